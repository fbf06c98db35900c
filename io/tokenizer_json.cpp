// BLOOM tokenizer, loading: reads a HF tokenizer.json into Tokenizer::Impl, checking that it is
// the byte-level BPE with BLOOM's pre-tokenizer that tokenizer.cpp implements; every error names
// the file and the JSON key.
#include "io/tokenizer.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/tokenizer_impl.h"
#include "io/unicode.h"

namespace bloom::io {

using tokenizer_detail::AddedToken;
using tokenizer_detail::pair_key;

namespace {

using nlohmann::json;

// The Split regex of every BLOOM tokenizer.json (JSON-decoded).
constexpr const char* kBloomSplitRegex =
    " ?[^(\\s|[.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c])]+";

// Reads and checks the JSON, every error naming the file and the key.
class Loader {
 public:
  explicit Loader(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& msg) const {
    BLOOM_FAIL("tokenizer {}: {}: {}", origin_, key, msg);
  }
  const json& member(const json& obj, const std::string& parent, const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(parent.empty() ? key : parent + "." + key, "missing");
    return *it;
  }
  std::string string_at(const json& v, const std::string& key) const {
    if (!v.is_string()) fail(key, "expected a string, got " + v.dump());
    return v.get<std::string>();
  }
  bool flag(const json& obj, const std::string& parent, const char* key, bool dflt) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return dflt;
    if (!it->is_boolean()) fail(parent + "." + key, "expected true/false, got " + it->dump());
    return it->get<bool>();
  }
  void expect(bool ok, const std::string& key, const std::string& msg) const {
    if (!ok) fail(key, msg);
  }

  void check_pre_tokenizer(const json& root) const {
    const std::string key = "pre_tokenizer";
    const json& pt = member(root, "", "pre_tokenizer");
    const std::string want =
        "Sequence[Split(Regex \" ?[^(\\s|[.,!?…。，、।۔،])]+\", Isolated, invert false), "
        "ByteLevel(add_prefix_space false, use_regex false)] (BLOOM's)";
    auto is = [](const json& j, const char* k, const json& v) {
      return j.is_object() && j.contains(k) && j[k] == v;
    };
    bool ok = is(pt, "type", "Sequence") && pt.contains("pretokenizers") &&
              pt["pretokenizers"].is_array() && pt["pretokenizers"].size() == 2;
    if (ok) {
      const json& split = pt["pretokenizers"][0];
      const json& bytes = pt["pretokenizers"][1];
      ok = is(split, "type", "Split") && is(split, "behavior", "Isolated") &&
           (!split.contains("invert") || split["invert"] == false) && split.contains("pattern") &&
           is(split["pattern"], "Regex", kBloomSplitRegex) && is(bytes, "type", "ByteLevel") &&
           is(bytes, "add_prefix_space", false) && is(bytes, "use_regex", false);
    }
    if (!ok) fail(key, "unsupported pre-tokenizer " + pt.dump() + "; only " + want + " is implemented");
  }

  std::string origin_;
};

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) BLOOM_FAIL("tokenizer {}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream text;
  text << file.rdbuf();
  BLOOM_CHECK(!file.bad(), "tokenizer {}: read error", path);
  return from_json_text(text.str(), path);
}

Tokenizer Tokenizer::from_json_text(const std::string& json_text, const std::string& origin) {
  Loader ld(origin);
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    BLOOM_FAIL("tokenizer {}: not valid JSON: {}", origin, e.what());
  }
  ld.expect(root.is_object(), "(top level)", "expected a JSON object (a HF tokenizer.json)");
  auto impl = std::make_shared<Impl>();
  impl->origin = origin;

  // Model.
  const json& model = ld.member(root, "", "model");
  ld.expect(model.is_object(), "model", "expected an object");
  if (model.contains("type")) {
    std::string type = ld.string_at(model["type"], "model.type");
    ld.expect(type == "BPE", "model.type", "\"" + type + "\" is not supported, only \"BPE\"");
  }
  auto dropout = model.find("dropout");
  ld.expect(dropout == model.end() || dropout->is_null() || (dropout->is_number() && *dropout == 0),
            "model.dropout", "BPE dropout is not supported (ids would be random)");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(k);
    ld.expect(it == model.end() || it->is_null() || *it == "", std::string("model.") + k,
              "not supported (byte-level BPE uses none)");
  }
  ld.expect(!ld.flag(model, "model", "byte_fallback", false), "model.byte_fallback",
            "not supported");
  impl->fuse_unk = ld.flag(model, "model", "fuse_unk", false);
  impl->ignore_merges = ld.flag(model, "model", "ignore_merges", false);

  const json& vocab = ld.member(model, "model", "vocab");
  ld.expect(vocab.is_object(), "model.vocab", "expected an object {token: id}");
  const auto n_vocab = static_cast<int64_t>(vocab.size());
  impl->tokens.resize(vocab.size());
  impl->has_token.assign(vocab.size(), 0);
  // (Messages are built only on failure: the real BLOOM file has 250k tokens and 250k merges.)
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    auto key = [&] { return "model.vocab[\"" + it.key() + "\"]"; };
    if (!it->is_number_integer()) ld.fail(key(), "expected an integer id, got " + it->dump());
    int64_t id = it->get<int64_t>();
    if (id < 0 || id >= n_vocab) {
      ld.fail(key(), fmt::format("id {} out of range [0, {}) (ids must be dense)", id, n_vocab));
    }
    if (impl->has_token[id]) ld.fail(key(), fmt::format("id {} used twice", id));
    impl->vocab.emplace(it.key(), static_cast<int32_t>(id));
    impl->tokens[id] = it.key();
    impl->has_token[id] = 1;
  }
  for (int b = 0; b < 256; ++b) {
    std::string s;
    unicode::append_utf8(s, unicode::byte_to_char(static_cast<uint8_t>(b)));
    auto it = impl->vocab.find(s);
    impl->byte_ids[b] = it == impl->vocab.end() ? -1 : it->second;
  }
  if (auto unk = model.find("unk_token"); unk != model.end() && !unk->is_null()) {
    std::string u = ld.string_at(*unk, "model.unk_token");
    auto it = impl->vocab.find(u);
    ld.expect(it != impl->vocab.end(), "model.unk_token", "\"" + u + "\" is not in model.vocab");
    impl->unk_id = it->second;
  }

  const json& merges = ld.member(model, "model", "merges");
  ld.expect(merges.is_array(), "model.merges", "expected an array");
  int32_t rank = 0;
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    auto key = [&] { return fmt::format("model.merges[{}]", i); };
    std::string a, b;
    if (m.is_string()) {  // legacy "a b"
      const std::string& line = m.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) continue;
      std::size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
        ld.fail(key(), "legacy merge \"" + line + "\" is not two tokens separated by one space");
      }
      a = line.substr(0, sp), b = line.substr(sp + 1);
    } else {
      if (!(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())) {
        ld.fail(key(), "expected [\"a\", \"b\"] or \"a b\", got " + m.dump());
      }
      a = m[0].get<std::string>(), b = m[1].get<std::string>();
    }
    auto find = [&](const std::string& t) {
      auto it = impl->vocab.find(t);
      if (it == impl->vocab.end()) ld.fail(key(), "token \"" + t + "\" is not in model.vocab");
      return it->second;
    };
    int32_t ia = find(a), ib = find(b), inew = find(a + b);
    impl->merges[pair_key(ia, ib)] = {rank++, inew};  // a repeated pair: the last rank wins, as in HF
  }

  // Added tokens, with the ids HF tokenizers gives them.
  int32_t n_ids = static_cast<int32_t>(n_vocab);
  if (auto at = root.find("added_tokens"); at != root.end() && !at->is_null()) {
    ld.expect(at->is_array(), "added_tokens", "expected an array");
    std::optional<int32_t> max_added;
    for (std::size_t i = 0; i < at->size(); ++i) {
      const json& t = (*at)[i];
      std::string key = fmt::format("added_tokens[{}]", i);
      ld.expect(t.is_object(), key, "expected an object");
      AddedToken tok;
      tok.content = ld.string_at(ld.member(t, key, "content"), key + ".content");
      if (tok.content.empty()) continue;  // HF skips empty added tokens
      ld.expect(unicode::is_valid_utf8(tok.content), key + ".content", "not valid UTF-8");
      tok.special = ld.flag(t, key, "special", false);
      tok.lstrip = ld.flag(t, key, "lstrip", false);
      tok.rstrip = ld.flag(t, key, "rstrip", false);
      tok.normalized = ld.flag(t, key, "normalized", !tok.special);
      ld.expect(!ld.flag(t, key, "single_word", false), key + ".single_word", "not supported");
      const json& jid = ld.member(t, key, "id");
      ld.expect(jid.is_number_integer(), key + ".id", "expected an integer");
      if (impl->added_ids.count(tok.content)) continue;  // HF ignores a repeated token
      int32_t id;
      if (auto v = impl->vocab.find(tok.content); v != impl->vocab.end()) {
        id = v->second;
      } else {
        // HF AddedVocabulary::add_tokens: after the largest id so far, or at the model's size.
        id = (max_added && (*max_added >= n_vocab || n_vocab == 0)) ? *max_added + 1
                                                                   : static_cast<int32_t>(n_vocab);
      }
      ld.expect(jid.get<int64_t>() == id, key + ".id",
                fmt::format("\"{}\" has id {} but HF tokenizers would give it id {}", tok.content,
                            jid.get<int64_t>(), id));
      max_added = std::max(max_added.value_or(id), id);
      tok.id = id;
      n_ids = std::max(n_ids, id + 1);
      impl->added_ids.emplace(tok.content, id);
      impl->added.push_back(tok);
    }
  }
  impl->tokens.resize(n_ids);
  impl->has_token.resize(n_ids, 0);
  impl->special.assign(n_ids, 0);
  for (const AddedToken& t : impl->added) {
    impl->tokens[t.id] = t.content;
    impl->has_token[t.id] = 1;
    impl->special[t.id] = t.special;
  }
  for (const AddedToken& t : impl->added) (t.normalized ? impl->normalized : impl->non_normalized).add(&t);

  // The pipeline around the model.
  auto is_null = [&](const char* k) { return !root.contains(k) || root[k].is_null(); };
  ld.expect(is_null("normalizer"), "normalizer", "must be null (normalizers are not implemented)");
  ld.check_pre_tokenizer(root);
  const json& decoder = ld.member(root, "", "decoder");
  ld.expect(decoder.is_object() && decoder.value("type", "") == "ByteLevel", "decoder",
            "only the ByteLevel decoder is supported, got " + decoder.dump());

  // What the ByteLevel decoder makes of each token: its bytes when every character is in the
  // byte alphabet, else the token's own UTF-8.
  impl->decoded.resize(n_ids);
  for (int32_t id = 0; id < n_ids; ++id) {
    const std::string& t = impl->tokens[id];
    std::string bytes;
    bool all = true;
    for (std::size_t pos = 0; pos < t.size() && all;) {
      unicode::CodePoint cp = unicode::decode_utf8(t, pos);
      auto b = unicode::char_to_byte(cp.value);
      all = cp.valid && b.has_value();
      if (all) bytes += static_cast<char>(*b);
      pos += cp.length;
    }
    impl->decoded[id] = all ? bytes : t;
  }
  return Tokenizer(std::move(impl));
}

}  // namespace bloom::io
