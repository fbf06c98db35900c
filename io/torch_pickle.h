// A restricted reader of the pickle inside a torch.save file (`<archive>/data.pkl`): it knows
// only what torch.save writes for a state dict, and it executes nothing.
//
// torch.save pickles (protocol 2 by default) a dict or collections.OrderedDict of tensor name ->
// tensor; each tensor is a call of torch._utils._rebuild_tensor_v2(storage, storage_offset,
// size, stride, requires_grad, backward_hooks) (wrapped in torch._utils._rebuild_parameter for an
// nn.Parameter), and each storage a persistent id ('storage', torch.<T>Storage, key, location,
// numel) whose bytes are the archive entry `<archive>/data/<key>` (torch/serialization.py,
// torch/_utils.py). So the reader interprets a fixed set of opcodes and accepts exactly these
// globals: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter and the torch.*Storage types. Any other global
// (posix.system, builtins.eval, subprocess.Popen, ...) is refused by name before anything else
// happens; the "calls" above are interpreted, never made. That is where we are safer than
// torch.load(weights_only=False), which would call whatever the file names.
//
// The interpreter keeps every value in one arena and refers to values by index: no recursion,
// no reference cycles, work and memory linear in the pickle's size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bloom::io {

/// One tensor of the state dict, as the pickle describes it (nothing checked against the
/// archive yet: that is torch_file.cpp's job).
struct PickledTensor {
  std::string name;
  std::string storage_key;   // archive entry <archive>/data/<storage_key>
  std::string storage_type;  // "HalfStorage", "FloatStorage", "BFloat16Storage", ...
  int64_t storage_numel = 0; // elements the pickle says the storage holds
  int64_t offset = 0;        // storage offset, in elements
  std::vector<int64_t> shape, stride;
};

/// Interprets the pickle `data[0, size)`. `origin` (e.g. "x.bin: archive/data.pkl") starts every
/// message. Throws bloom::Error on a foreign global, an opcode torch.save does not write, or a
/// structure that is not a flat state dict of tensors.
std::vector<PickledTensor> read_state_dict_pickle(const uint8_t* data, size_t size,
                                                  const std::string& origin);

}  // namespace bloom::io
