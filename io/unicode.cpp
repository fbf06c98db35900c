// UTF-8 decoding with maximal-subpart error recovery, Unicode White_Space, GPT-2 byte alphabet.
#include "io/unicode.h"

#include <array>

namespace bloom::io::unicode {

namespace {

bool in_range(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

struct ByteAlphabet {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 256 + 68> to_byte{};  // -1: not in the alphabet
  ByteAlphabet() {
    to_byte.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_char[b] = printable ? static_cast<char32_t>(b) : next++;
      to_byte[to_char[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

}  // namespace

CodePoint decode_utf8(std::string_view s, std::size_t pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) return {b0, 1, true};
  int need = 0;
  char32_t value = 0;
  // Allowed range of the second byte (Unicode Table 3-7); later bytes are always 80..BF.
  unsigned char lo = 0x80, hi = 0xBF;
  if (in_range(b0, 0xC2, 0xDF)) {
    need = 1, value = b0 & 0x1F;
  } else if (in_range(b0, 0xE0, 0xEF)) {
    need = 2, value = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (in_range(b0, 0xF0, 0xF4)) {
    need = 3, value = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {kReplacementChar, 1, false};  // 80..C1 or F5..FF can start nothing
  }
  for (int i = 1; i <= need; ++i) {
    if (pos + i >= s.size()) return {kReplacementChar, i, false};
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if (i == 1 ? !in_range(b, lo, hi) : !in_range(b, 0x80, 0xBF)) return {kReplacementChar, i, false};
    value = (value << 6) | (b & 0x3F);
  }
  return {value, need + 1, true};
}

bool is_valid_utf8(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    if (static_cast<unsigned char>(s[pos]) < 0x80) {
      ++pos;
      continue;
    }
    CodePoint cp = decode_utf8(s, pos);
    if (!cp.valid) return false;
    pos += cp.length;
  }
  return true;
}

std::string replace_invalid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  std::size_t pos = 0;
  while (pos < s.size()) {
    CodePoint cp = decode_utf8(s, pos);
    if (cp.valid) {
      out.append(s.data() + pos, cp.length);
    } else {
      append_utf8(out, kReplacementChar);
    }
    pos += cp.length;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_white_space(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  if (c < 0x85) return false;
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

char32_t byte_to_char(std::uint8_t b) { return byte_alphabet().to_char[b]; }

std::optional<std::uint8_t> char_to_byte(char32_t c) {
  if (c >= byte_alphabet().to_byte.size() || byte_alphabet().to_byte[c] < 0) return std::nullopt;
  return static_cast<std::uint8_t>(byte_alphabet().to_byte[c]);
}

}  // namespace bloom::io::unicode
