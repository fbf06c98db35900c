// The restricted state-dict unpickler (see torch_pickle.h). Opcode values and argument encodings
// are those of CPython's Lib/pickletools.py; only the ones torch.save's pickler emits for a state
// dict (protocol 2, plus the protocol 4 framing and memo opcodes for pickle_protocol=4) are read.
#include "io/torch_pickle.h"

#include <cstring>
#include <unordered_map>

#include "core/check.h"

namespace bloom::io {

namespace {

enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "a bool";
    case Kind::Int: return "an int";
    case Kind::Float: return "a float";
    case Kind::Str: return "a string";
    case Kind::Tuple: return "a tuple";
    case Kind::List: return "a list";
    case Kind::Dict: return "a dict";
    case Kind::Global: return "a global";
    case Kind::Storage: return "a storage";
    case Kind::Tensor: return "a tensor";
  }
  return "?";
}

// A pickle value. Containers hold arena indices (a dict: key, value, key, value, ...).
struct Value {
  Kind kind = Kind::None;
  int64_t i = 0;               // Int, Bool; Tensor: index into Machine::tensors
  double f = 0.0;              // Float
  std::string s;               // Str; Global: "module.name"; Storage: its key
  std::vector<uint32_t> items; // Tuple, List, Dict
};

// The globals a torch.save state dict needs; storage types map to element names torch uses.
bool is_storage_type(const std::string& g) {
  static const char* kTypes[] = {"FloatStorage", "HalfStorage", "BFloat16Storage",
                                 "DoubleStorage", "LongStorage", "IntStorage", "ShortStorage",
                                 "CharStorage", "ByteStorage", "BoolStorage"};
  for (const char* t : kTypes)
    if (g == std::string("torch.") + t) return true;
  return false;
}

bool is_allowed_global(const std::string& g) {
  return g == "collections.OrderedDict" || g == "torch._utils._rebuild_tensor_v2" ||
         g == "torch._utils._rebuild_parameter" || is_storage_type(g);
}

class Machine {
 public:
  Machine(const uint8_t* data, size_t size, const std::string& origin)
      : d_(data), n_(size), origin_(origin) {}

  std::vector<PickledTensor> run();

 private:
  [[noreturn]] void fail(const std::string& what) const {
    BLOOM_FAIL("{}: byte {}: {}", origin_, op_pos_, what);
  }
  const uint8_t* take(size_t k) {
    if (k > n_ - pos_) fail("the pickle ends inside an opcode's argument (truncated file?)");
    const uint8_t* p = d_ + pos_;
    pos_ += k;
    return p;
  }
  uint64_t le(size_t k) {
    const uint8_t* p = take(k);
    uint64_t v = 0;
    for (size_t b = k; b-- > 0;) v = (v << 8) | p[b];
    return v;
  }
  std::string line() {  // GLOBAL's newline-terminated arguments
    const void* nl = std::memchr(d_ + pos_, '\n', n_ - pos_);
    if (!nl) fail("GLOBAL's argument has no end of line");
    const size_t k = static_cast<size_t>(static_cast<const uint8_t*>(nl) - (d_ + pos_));
    std::string s(reinterpret_cast<const char*>(take(k)), k);
    take(1);
    return s;
  }

  uint32_t make(Value v) {
    arena_.push_back(std::move(v));
    return static_cast<uint32_t>(arena_.size() - 1);
  }
  void push(Value v) { stack_.push_back(make(std::move(v))); }
  uint32_t pop() {
    if (stack_.size() <= floor()) fail("the pickle pops more values than it pushed");
    const uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  uint32_t top() const {
    if (stack_.size() <= floor()) fail("the pickle uses a value it never pushed");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<uint32_t> pop_mark() {  // the values above the last MARK, which is removed
    if (marks_.empty()) fail("the pickle closes a MARK it never opened");
    std::vector<uint32_t> out(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()),
                              stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return out;
  }
  Value& at(uint32_t i) { return arena_[i]; }
  Value& expect(uint32_t i, Kind k, const char* what) {
    if (arena_[i].kind != k)
      fail(fmt::format("{} is {}, expected {}", what, kind_name(arena_[i].kind), kind_name(k)));
    return arena_[i];
  }
  void push_global(const std::string& module, const std::string& name);
  void string_op(size_t len) {
    const uint8_t* p = take(len);
    Value v;
    v.kind = Kind::Str;
    v.s.assign(reinterpret_cast<const char*>(p), len);
    push(std::move(v));
  }
  void add_items(Kind container, size_t per_item);
  void reduce();
  void persistent_id();
  std::vector<int64_t> int_tuple(uint32_t i, const char* what);
  std::vector<PickledTensor> result();

  const uint8_t* d_;
  size_t n_, pos_ = 0, op_pos_ = 0;
  std::string origin_;
  std::vector<Value> arena_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
  std::vector<PickledTensor> tensors_;
  std::unordered_map<std::string, std::pair<std::string, int64_t>> storages_;  // key -> type, numel
};

void Machine::push_global(const std::string& module, const std::string& name) {
  const std::string g = module + "." + name;
  BLOOM_CHECK(is_allowed_global(g),
              "{}: refuses the pickle global '{}': a torch.save state dict needs only "
              "collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
              "torch._utils._rebuild_parameter and torch.*Storage types. Nothing in the file was "
              "run (torch.load without weights_only would have called it): do not load this "
              "file with torch either",
              origin_, g);
  Value v;
  v.kind = Kind::Global;
  v.s = g;
  push(std::move(v));
}

// APPEND(S) / SETITEM(S): the values above the container go into it.
void Machine::add_items(Kind container, size_t per_item) {
  std::vector<uint32_t> items = pop_mark();
  if (items.size() % per_item != 0) fail("SETITEMS with a key but no value");
  Value& c = expect(top(), container, "the target of APPENDS/SETITEMS");
  c.items.insert(c.items.end(), items.begin(), items.end());
}

std::vector<int64_t> Machine::int_tuple(uint32_t i, const char* what) {
  std::vector<int64_t> out;
  for (uint32_t item : expect(i, Kind::Tuple, what).items)
    out.push_back(expect(item, Kind::Int, what).i);
  return out;
}

// BINPERSID: ('storage', torch.<T>Storage, key, location, numel) -> a storage.
void Machine::persistent_id() {
  const uint32_t pid = pop();
  const Value& t = expect(pid, Kind::Tuple, "a persistent id");
  if (t.items.size() != 5 || at(t.items[0]).kind != Kind::Str || at(t.items[0]).s != "storage")
    fail("a persistent id is not ('storage', type, key, location, numel)");
  const std::string type = expect(t.items[1], Kind::Global, "a storage's type").s;
  if (!is_storage_type(type)) fail(fmt::format("{} is not a storage type", type));
  Value v;
  v.kind = Kind::Storage;
  v.s = expect(t.items[2], Kind::Str, "a storage's key").s;
  expect(t.items[3], Kind::Str, "a storage's location");
  v.i = expect(t.items[4], Kind::Int, "a storage's size").i;
  if (v.i < 0) fail("a storage has a negative size");
  const std::string short_type = type.substr(6);  // without "torch."
  auto [it, fresh] = storages_.emplace(v.s, std::make_pair(short_type, v.i));
  if (!fresh && it->second != std::make_pair(short_type, v.i))
    fail(fmt::format("storage {} is described twice, as {} x {} and {} x {}", v.s,
                     it->second.second, it->second.first, v.i, short_type));
  push(std::move(v));
}

// REDUCE: callable(args) for the three callables a state dict uses; nothing is called.
void Machine::reduce() {
  const uint32_t args_i = pop();
  const uint32_t fn_i = pop();
  const std::string fn = expect(fn_i, Kind::Global, "the callable of REDUCE").s;
  const std::vector<uint32_t> args = expect(args_i, Kind::Tuple, "the arguments of REDUCE").items;
  Value out;
  if (fn == "collections.OrderedDict") {
    if (!args.empty()) fail("OrderedDict is called with arguments");
    out.kind = Kind::Dict;
  } else if (fn == "torch._utils._rebuild_tensor_v2") {
    if (args.size() != 6 && args.size() != 7)
      fail(fmt::format("_rebuild_tensor_v2 takes 6 or 7 arguments, got {}", args.size()));
    PickledTensor t;
    const Value& storage = expect(args[0], Kind::Storage, "a tensor's storage");
    t.storage_key = storage.s;
    t.storage_type = storages_.at(storage.s).first;
    t.storage_numel = storage.i;
    t.offset = expect(args[1], Kind::Int, "a tensor's storage offset").i;
    t.shape = int_tuple(args[2], "a tensor's size");
    t.stride = int_tuple(args[3], "a tensor's stride");
    expect(args[4], Kind::Bool, "a tensor's requires_grad");
    if (t.shape.size() != t.stride.size())
      fail(fmt::format("a tensor has {} sizes but {} strides", t.shape.size(), t.stride.size()));
    out.kind = Kind::Tensor;
    out.i = static_cast<int64_t>(tensors_.size());
    tensors_.push_back(std::move(t));
  } else if (fn == "torch._utils._rebuild_parameter") {
    if (args.size() != 3) fail("_rebuild_parameter takes 3 arguments");
    out = expect(args[0], Kind::Tensor, "a parameter's data");
  } else {
    fail(fmt::format("{} is not called by a torch.save state dict", fn));
  }
  push(std::move(out));
}

std::vector<PickledTensor> Machine::run() {
  for (;;) {
    op_pos_ = pos_;
    if (pos_ >= n_) fail("the pickle ends before its STOP opcode (truncated file?)");
    const uint8_t op = *take(1);
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t v = *take(1);
        if (v < 2 || v > 5) fail(fmt::format("pickle protocol {} is not what torch.save writes", v));
        break;
      }
      case 0x95: take(8); break;  // FRAME: a length hint
      case '.':                   // STOP
        return result();
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0': pop(); break;                            // POP
      case '1': pop_mark(); break;                       // POP_MARK
      case 'N': push({}); break;                         // NONE
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        Value v;
        v.kind = Kind::Bool;
        v.i = op == 0x88;
        push(std::move(v));
        break;
      }
      case 'J':
      case 'K':
      case 'M':
      case 0x8a: {  // BININT (i32), BININT1 (u8), BININT2 (u16), LONG1 (n-byte signed)
        Value v;
        v.kind = Kind::Int;
        if (op == 'J') {
          v.i = static_cast<int32_t>(le(4));
        } else if (op == 'K' || op == 'M') {
          v.i = static_cast<int64_t>(le(op == 'K' ? 1 : 2));
        } else {
          const size_t k = *take(1);
          if (k > 8) fail("an integer of more than 64 bits");
          const uint64_t u = k ? le(k) : 0;
          const int shift = static_cast<int>(64 - 8 * k);
          v.i = k ? static_cast<int64_t>(u << shift) >> shift : 0;  // sign-extend
        }
        push(std::move(v));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        const uint8_t* p = take(8);
        uint64_t u = 0;
        for (int b = 0; b < 8; ++b) u = (u << 8) | p[b];
        Value v;
        v.kind = Kind::Float;
        std::memcpy(&v.f, &u, 8);
        push(std::move(v));
        break;
      }
      case 'X': string_op(le(4)); break;   // BINUNICODE
      case 0x8c: string_op(le(1)); break;  // SHORT_BINUNICODE
      case 0x8d: string_op(le(8)); break;  // BINUNICODE8
      case ')':
      case ']':
      case '}': {  // EMPTY_TUPLE, EMPTY_LIST, EMPTY_DICT
        Value v;
        v.kind = op == ')' ? Kind::Tuple : op == ']' ? Kind::List : Kind::Dict;
        push(std::move(v));
        break;
      }
      case 't': {  // TUPLE
        Value v;
        v.kind = Kind::Tuple;
        v.items = pop_mark();
        push(std::move(v));
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        Value v;
        v.kind = Kind::Tuple;
        v.items.resize(op - 0x84);
        for (size_t k = v.items.size(); k-- > 0;) v.items[k] = pop();
        push(std::move(v));
        break;
      }
      case 'a': {  // APPEND
        const uint32_t item = pop();
        expect(top(), Kind::List, "the target of APPEND").items.push_back(item);
        break;
      }
      case 's': {  // SETITEM
        const uint32_t value = pop(), key = pop();
        Value& dict = expect(top(), Kind::Dict, "the target of SETITEM");
        dict.items.push_back(key);
        dict.items.push_back(value);
        break;
      }
      case 'e': add_items(Kind::List, 1); break;  // APPENDS
      case 'u': add_items(Kind::Dict, 2); break;  // SETITEMS
      case 'q': memo_[le(1)] = top(); break;      // BINPUT
      case 'r': memo_[le(4)] = top(); break;      // LONG_BINPUT
      case 0x94: {                                // MEMOIZE
        const uint64_t key = memo_.size();
        memo_[key] = top();
        break;
      }
      case 'h':
      case 'j': {  // BINGET, LONG_BINGET
        const uint64_t key = le(op == 'h' ? 1 : 4);
        auto it = memo_.find(key);
        if (it == memo_.end()) fail(fmt::format("memo entry {} was never stored", key));
        stack_.push_back(it->second);
        break;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        const std::string module = line();
        push_global(module, line());
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const std::string name = expect(pop(), Kind::Str, "STACK_GLOBAL's name").s;
        push_global(expect(pop(), Kind::Str, "STACK_GLOBAL's module").s, name);
        break;
      }
      case 'R': reduce(); break;
      case 'Q': persistent_id(); break;  // BINPERSID
      case 'b': {  // BUILD: an OrderedDict's __dict__ (state_dict()._metadata) is dropped
        const Kind state = at(pop()).kind;
        if (at(top()).kind != Kind::Dict || (state != Kind::Dict && state != Kind::None))
          fail("BUILD sets the state of something other than a state dict");
        break;
      }
      default:
        fail(fmt::format("opcode 0x{:02x} is not one torch.save writes for a state dict", op));
    }
  }
}

std::vector<PickledTensor> Machine::result() {
  if (stack_.size() != 1 || !marks_.empty())
    fail(fmt::format("the pickle ends with {} values on its stack instead of one", stack_.size()));
  const Value& root = at(stack_.back());
  if (root.kind != Kind::Dict)
    BLOOM_FAIL("{}: holds {}, not a state dict (tensor name -> tensor)", origin_,
               kind_name(root.kind));
  std::vector<PickledTensor> out;
  std::unordered_map<std::string, size_t> seen;
  for (size_t k = 0; k < root.items.size(); k += 2) {
    const Value& key = at(root.items[k]);
    const Value& value = at(root.items[k + 1]);
    BLOOM_CHECK(key.kind == Kind::Str, "{}: a state-dict key is {}, not a tensor name", origin_,
                kind_name(key.kind));
    BLOOM_CHECK(value.kind == Kind::Tensor,
                "{}: entry '{}' is {}, not a tensor (a state dict maps names to tensors)", origin_,
                key.s, kind_name(value.kind));
    BLOOM_CHECK(seen.emplace(key.s, out.size()).second, "{}: tensor {} appears twice", origin_,
                key.s);
    PickledTensor t = tensors_[static_cast<size_t>(value.i)];
    t.name = key.s;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

std::vector<PickledTensor> read_state_dict_pickle(const uint8_t* data, size_t size,
                                                  const std::string& origin) {
  Machine m(data, size, origin);
  return m.run();
}

}  // namespace bloom::io
