// UTF-8 decoding and the few Unicode facts the BLOOM tokenizer needs: Unicode White_Space (what
// Oniguruma's \s and Rust's char::is_whitespace both mean), invalid-UTF-8 replacement the way
// Python's errors="replace" and Rust's String::from_utf8_lossy do it, and GPT-2's byte-level
// alphabet (every byte 0..255 shown as one printable code point).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bloom::io::unicode {

inline constexpr char32_t kReplacementChar = 0xFFFD;

/// One decoded code point. For an invalid sequence: value U+FFFD, valid false, and length the
/// "maximal subpart" (Unicode ch. 3, U+FFFD substitution of maximal subparts): the number of
/// bytes to replace by one U+FFFD before decoding resumes.
struct CodePoint {
  char32_t value;
  int length;
  bool valid;
};

/// Decodes the code point starting at s[pos] (pos < s.size()).
CodePoint decode_utf8(std::string_view s, std::size_t pos);

bool is_valid_utf8(std::string_view s);

/// s with every maximal invalid subpart replaced by U+FFFD (identical to Python's
/// bytes.decode("utf-8", "replace") and Rust's String::from_utf8_lossy).
std::string replace_invalid_utf8(std::string_view s);

void append_utf8(std::string& out, char32_t cp);

/// Unicode White_Space: U+0009..000D, 0020, 0085, 00A0, 1680, 2000..200A, 2028, 2029, 202F,
/// 205F, 3000. Checked against HF tokenizers (Oniguruma \s) over every code point.
bool is_white_space(char32_t c);

/// GPT-2 byte-level alphabet: bytes 0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF map to themselves, the
/// other 68 bytes to U+0100.. in byte order.
char32_t byte_to_char(std::uint8_t b);

/// Inverse of byte_to_char; nullopt for code points outside the alphabet.
std::optional<std::uint8_t> char_to_byte(char32_t c);

}  // namespace bloom::io::unicode
