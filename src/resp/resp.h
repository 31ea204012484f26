// RESP2, the Redis serialization protocol: the parser of what clients send
// and the encoders of what the gateway answers (issue 19). Pure: no I/O, no
// allocation beyond what the input has actually delivered.
//
// A client sends commands as arrays of bulk strings ("*2\r\n$3\r\nGET\r\n
// $1\r\nk\r\n"), or as inline commands, one line of space-separated words
// with Redis's quoting (what telnet or nc send: "GET k\r\n"). The parser
// follows Redis's own (networking.c, processMultibulkBuffer and
// processInlineBuffer; sds.c, sdssplitargs): the same commands are accepted,
// the same protocol errors are reported with the same words, and after an
// error the connection is to be closed (Redis replies, then closes).
//
// Limits (Limits below) bound what one command can make the gateway hold: a
// bulk length, the number of arguments and the total of declared bytes are
// checked when their header arrives, before anything of that size is
// allocated, so a client claiming a huge bulk gets an error, not an
// allocation.
//
// Thread safety: none; a Parser belongs to one connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pbft::resp {

struct Limits {
  // The longest bulk string (a key or a value), in bytes.
  size_t bulk_bytes_max = size_t{1} << 20;
  // The most arguments in one command (Redis: 1024 * 1024).
  size_t args_max = size_t{1} << 20;
  // The most bytes one command may hold in all: its bulk strings, each
  // charged arg_overhead more (so that a million empty arguments are not
  // free).
  size_t command_bytes_max = size_t{4} << 20;
  // The longest inline command, or header line (Redis: 64 KiB). Unlike
  // Redis, which checks it only while the line's end has not arrived, a
  // longer line is refused however it arrives, so the outcome does not
  // depend on how the bytes were cut into reads.
  size_t inline_bytes_max = size_t{64} << 10;
  static constexpr size_t arg_overhead = 32;
};

using Args = std::vector<std::string>;

// What the parser found at the front of the buffer.
struct Parsed {
  enum class Kind : uint8_t {
    incomplete,  // more bytes are needed (nothing to drop yet)
    command,     // args holds a command; drop `consumed` bytes
    empty,       // an empty command (a blank line, "*0"): drop `consumed` bytes
    error,       // a protocol error: reply "-ERR " + error, then close
  };
  Kind kind = Kind::incomplete;
  size_t consumed = 0;
  Args args;
  std::string error;  // e.g. "Protocol error: invalid bulk length"
};

// An incremental parser for one connection. The caller keeps the bytes it
// has read and not yet dropped in one buffer and calls next() with it after
// every read: the parser remembers how far into the command in progress it
// got, so each byte is examined once however the command is cut into reads.
// After a command or an empty one, the caller drops `consumed` bytes from
// the front of its buffer before the next call; after an error, the parser
// is done (the connection is to be closed).
class Parser {
 public:
  explicit Parser(Limits limits = {}) : limits_(limits) {}

  Parsed next(std::string_view buffer);

  const Limits& limits() const { return limits_; }

 private:
  Parsed next_multibulk(std::string_view buffer);
  Parsed next_inline(std::string_view buffer);
  bool header_too_long(std::string_view buffer, size_t from, std::optional<size_t> end) const;
  Parsed fail(std::string error);
  Parsed finish(Parsed::Kind kind);

  Limits limits_;
  bool failed_ = false;
  // The command in progress (multibulk): the arguments still expected (-1:
  // its header not yet read), the length of the bulk being read (-1: its
  // header not yet read), where in the buffer the next byte to examine is,
  // the bytes charged so far, and the arguments read.
  int64_t args_left_ = -1;
  int64_t bulk_length_ = -1;
  size_t position_ = 0;
  size_t charged_ = 0;
  Args args_;
};

// Splits an inline command line into words the way Redis does
// (sdssplitargs): spaces separate words; "double quotes" take \n \r \t \b
// \a \xHH and \<char> escapes; 'single quotes' take \'; a closing quote
// must be followed by a space or the end. False on unbalanced quotes.
bool split_inline(std::string_view line, Args& out);

// Redis's string2ll: the only integers Redis takes from a client or finds
// in a value: an optional '-', then digits without a leading zero ("0"
// alone is zero), nothing else, within a signed 64-bit integer.
bool parse_integer(std::string_view text, int64_t& value);

// The encoders: each appends one RESP2 value to `out`.
void append_simple(std::string& out, std::string_view text);  // +text
void append_error(std::string& out, std::string_view text);   // -text ("ERR ...", "WRONGTYPE ...")
void append_integer(std::string& out, int64_t value);         // :value
void append_bulk(std::string& out, std::string_view bytes);   // $len bytes
void append_null(std::string& out);                           // $-1 (a nil bulk)
void append_array(std::string& out, size_t count);            // *count, then its elements
void append_null_array(std::string& out);                     // *-1

}  // namespace pbft::resp
