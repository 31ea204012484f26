// The RESP2 parser and encoders (contract: resp.h). Where Redis's own
// parser (networking.c) decides something, the comment says what it does.

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "src/resp/resp.h"

namespace pbft::resp {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// A header line ("*3", "$5") at `from`: where its '\r' is, if the buffer
// holds the '\n' after it too (Redis looks for the '\r' and skips two
// bytes without checking the second).
std::optional<size_t> header_end(std::string_view buffer, size_t from) {
  const size_t r = buffer.find('\r', from);
  if (r == std::string_view::npos || r + 1 >= buffer.size()) return std::nullopt;
  return r;
}

}  // namespace

bool parse_integer(std::string_view s, int64_t& value) {
  if (s.empty() || s.size() > 20) return false;
  if (s == "0") {
    value = 0;
    return true;
  }
  const bool negative = s[0] == '-';
  const std::string_view digits = negative ? s.substr(1) : s;
  if (digits.empty() || digits[0] < '1' || digits[0] > '9') return false;
  uint64_t magnitude = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  const uint64_t max_positive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (negative) {
    if (magnitude > max_positive + 1) return false;
    value = magnitude == max_positive + 1 ? std::numeric_limits<int64_t>::min()
                                          : -static_cast<int64_t>(magnitude);
  } else {
    if (magnitude > max_positive) return false;
    value = static_cast<int64_t>(magnitude);
  }
  return true;
}

// Whether the header line at `from` is longer than inline_bytes_max: by
// where its '\r' is (end), or while that has not arrived (or the byte after
// it has not), by what has: the '\r' can only be further. Both ways give
// the same answer, so it does not depend on how the bytes were cut.
bool Parser::header_too_long(std::string_view buffer, size_t from,
                             std::optional<size_t> end) const {
  return end ? *end - from > limits_.inline_bytes_max
             : buffer.size() - from > limits_.inline_bytes_max + 1;
}

Parsed Parser::fail(std::string error) {
  failed_ = true;
  Parsed p;
  p.kind = Parsed::Kind::error;
  p.error = std::move(error);
  return p;
}

Parsed Parser::finish(Parsed::Kind kind) {
  Parsed p;
  p.kind = kind;
  p.consumed = position_;
  p.args = std::move(args_);
  args_ = Args{};
  args_left_ = -1;
  bulk_length_ = -1;
  position_ = 0;
  charged_ = 0;
  return p;
}

Parsed Parser::next(std::string_view buffer) {
  if (failed_) return fail("Protocol error: the connection already failed");
  if (buffer.empty()) return Parsed{};
  // A command in progress is a multibulk one (inline commands are parsed
  // in one go once their line is whole); a new one is multibulk if it
  // starts with '*', inline otherwise.
  if (args_left_ >= 0 || buffer[0] == '*') return next_multibulk(buffer);
  return next_inline(buffer);
}

Parsed Parser::next_multibulk(std::string_view buffer) {
  if (args_left_ < 0) {
    const std::optional<size_t> end = header_end(buffer, 0);
    if (header_too_long(buffer, 0, end)) {
      return fail("Protocol error: too big mbulk count string");
    }
    if (!end) return Parsed{};
    int64_t count = 0;
    if (!parse_integer(buffer.substr(1, *end - 1), count) ||
        count > static_cast<int64_t>(limits_.args_max)) {
      return fail("Protocol error: invalid multibulk length");
    }
    position_ = *end + 2;
    if (count <= 0) return finish(Parsed::Kind::empty);  // Redis ignores "*0" and "*-1"
    args_left_ = count;
    args_.reserve(static_cast<size_t>(std::min<int64_t>(count, 1024)));
  }
  while (args_left_ > 0) {
    if (bulk_length_ < 0) {
      const std::optional<size_t> end = header_end(buffer, position_);
      if (header_too_long(buffer, position_, end)) {
        return fail("Protocol error: too big bulk count string");
      }
      if (!end) return Parsed{};
      if (buffer[position_] != '$') {
        return fail(std::string("Protocol error: expected '$', got '") + buffer[position_] + "'");
      }
      int64_t length = 0;
      if (!parse_integer(buffer.substr(position_ + 1, *end - position_ - 1), length) ||
          length < 0 || static_cast<uint64_t>(length) > limits_.bulk_bytes_max) {
        return fail("Protocol error: invalid bulk length");
      }
      charged_ += static_cast<size_t>(length) + Limits::arg_overhead;
      if (charged_ > limits_.command_bytes_max) {
        return fail("Protocol error: command of more than " +
                    std::to_string(limits_.command_bytes_max) + " bytes");
      }
      position_ = *end + 2;
      bulk_length_ = length;
    }
    const size_t length = static_cast<size_t>(bulk_length_);
    // The bulk and its "\r\n" (which Redis skips without checking).
    if (buffer.size() - position_ < length + 2) return Parsed{};
    args_.emplace_back(buffer.substr(position_, length));
    position_ += length + 2;
    bulk_length_ = -1;
    args_left_--;
  }
  return finish(Parsed::Kind::command);
}

Parsed Parser::next_inline(std::string_view buffer) {
  const size_t newline = buffer.find('\n');
  if (newline == std::string_view::npos ? buffer.size() > limits_.inline_bytes_max
                                        : newline > limits_.inline_bytes_max) {
    return fail("Protocol error: too big inline request");
  }
  if (newline == std::string_view::npos) return Parsed{};
  size_t line_length = newline;
  if (line_length > 0 && buffer[line_length - 1] == '\r') line_length--;
  Args args;
  if (!split_inline(buffer.substr(0, line_length), args)) {
    return fail("Protocol error: unbalanced quotes in request");
  }
  position_ = newline + 1;
  if (args.empty()) return finish(Parsed::Kind::empty);
  args_ = std::move(args);
  return finish(Parsed::Kind::command);
}

bool split_inline(std::string_view line, Args& out) {
  // sdssplitargs works on a C string: a NUL byte ends the line.
  line = line.substr(0, std::min(line.size(), line.find('\0')));
  size_t p = 0;
  const auto at = [&](size_t i) { return i < line.size() ? line[i] : '\0'; };
  while (true) {
    while (p < line.size() && is_space(line[p])) p++;
    if (p >= line.size()) return true;
    std::string current;
    bool in_double = false, in_single = false, done = false;
    while (!done) {
      const char c = at(p);
      if (in_double) {
        if (c == '\\' && at(p + 1) == 'x' && is_hex_digit(at(p + 2)) && is_hex_digit(at(p + 3))) {
          current.push_back(static_cast<char>(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3))));
          p += 3;
        } else if (c == '\\' && at(p + 1) != '\0') {
          p++;
          switch (at(p)) {
            case 'n': current.push_back('\n'); break;
            case 'r': current.push_back('\r'); break;
            case 't': current.push_back('\t'); break;
            case 'b': current.push_back('\b'); break;
            case 'a': current.push_back('\a'); break;
            default: current.push_back(at(p)); break;
          }
        } else if (c == '"') {
          // A closing quote must be followed by a space or the end.
          if (at(p + 1) != '\0' && !is_space(at(p + 1))) return false;
          done = true;
        } else if (c == '\0') {
          return false;  // unterminated quotes
        } else {
          current.push_back(c);
        }
      } else if (in_single) {
        if (c == '\\' && at(p + 1) == '\'') {
          p++;
          current.push_back('\'');
        } else if (c == '\'') {
          if (at(p + 1) != '\0' && !is_space(at(p + 1))) return false;
          done = true;
        } else if (c == '\0') {
          return false;
        } else {
          current.push_back(c);
        }
      } else {
        switch (c) {
          case ' ': case '\n': case '\r': case '\t': case '\0': done = true; break;
          case '"': in_double = true; break;
          case '\'': in_single = true; break;
          default: current.push_back(c); break;
        }
      }
      if (p < line.size()) p++;
    }
    out.push_back(std::move(current));
  }
}

namespace {

void append_line(std::string& out, char type, std::string_view text) {
  out.push_back(type);
  out.append(text);
  out.append("\r\n");
}

void append_number(std::string& out, char type, int64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  append_line(out, type, std::string_view(digits, static_cast<size_t>(end - digits)));
}

// Simple strings and errors are one line: a '\r' or '\n' inside would end
// it early and desynchronize the client, so they become spaces (Redis does
// the same to error texts).
void append_one_line(std::string& out, char type, std::string_view text) {
  out.push_back(type);
  for (char c : text) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  out.append("\r\n");
}

}  // namespace

void append_simple(std::string& out, std::string_view text) { append_one_line(out, '+', text); }
void append_error(std::string& out, std::string_view text) { append_one_line(out, '-', text); }
void append_integer(std::string& out, int64_t value) { append_number(out, ':', value); }

void append_bulk(std::string& out, std::string_view bytes) {
  append_number(out, '$', static_cast<int64_t>(bytes.size()));
  out.append(bytes);
  out.append("\r\n");
}

void append_null(std::string& out) { out.append("$-1\r\n"); }

void append_array(std::string& out, size_t count) {
  append_number(out, '*', static_cast<int64_t>(count));
}

void append_null_array(std::string& out) { out.append("*-1\r\n"); }

}  // namespace pbft::resp
