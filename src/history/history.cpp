// Client histories as JSON lines (the format documented in history.h).
//
// Lines are written by hand rather than through nlohmann::json's dump(): the
// format fixes the field order, and keys and values are byte strings, not
// UTF-8 text, so every byte that is not printable ASCII is written as a
// \u00XX escape. Lines are read with nlohmann::json, which decodes escapes to
// UTF-8; each code point is then mapped back to the one byte it stands for.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "pbft/history.h"

namespace pbft::history {
namespace {

using nlohmann::json;

const char* op_name(OpKind op) {
  switch (op) {
    case OpKind::get: return "get";
    case OpKind::put: return "put";
    case OpKind::del: return "delete";
    case OpKind::append: return "append";
  }
  return "unknown";
}

const char* outcome_name(Outcome status) {
  switch (status) {
    case Outcome::ok: return "ok";
    case Outcome::fail: return "fail";
    case Outcome::unknown: return "unknown";
  }
  return "unknown";
}

void append_byte_string(std::string& out, std::string_view bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte >= 0x20 && byte <= 0x7e) {
      out.push_back(c);
    } else {
      out += "\\u00";
      out.push_back(hex[byte >> 4]);
      out.push_back(hex[byte & 0xf]);
    }
  }
  out.push_back('"');
}

// nlohmann::json hands strings back as UTF-8. A byte string's code points are
// all <= 0xFF, so each is one byte: U+0000..U+007F arrive as one UTF-8 byte,
// U+0080..U+00FF as two (lead byte 0xC2 or 0xC3).
Result<std::string> utf8_to_bytes(const std::string& text, const char* field) {
  std::string bytes;
  bytes.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      bytes.push_back(static_cast<char>(lead));
      continue;
    }
    if ((lead == 0xc2 || lead == 0xc3) && i + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + 1]);
      if ((next & 0xc0) == 0x80) {
        bytes.push_back(static_cast<char>(((lead & 0x03) << 6) | (next & 0x3f)));
        ++i;
        continue;
      }
    }
    return Status::error(std::string(field) + " has a character above U+00FF (UTF-8 offset " +
                         std::to_string(i) + "): byte strings hold code points 0..255 only");
  }
  return bytes;
}

Result<uint64_t> read_unsigned(const json& object, const char* field) {
  const json& v = object.at(field);
  if (!v.is_number_unsigned()) {
    return Status::error(std::string(field) + " must be an unsigned integer, not " + v.dump());
  }
  return v.get<uint64_t>();
}

Result<std::optional<std::string>> read_bytes_or_null(const json& object, const char* field) {
  const json& v = object.at(field);
  if (v.is_null()) return std::optional<std::string>();
  if (!v.is_string()) return Status::error(std::string(field) + " must be a string or null");
  auto bytes = utf8_to_bytes(v.get_ref<const std::string&>(), field);
  if (!bytes) return bytes.status();
  return std::optional<std::string>(std::move(*bytes));
}

Result<std::string> read_name(const json& object, const char* field) {
  const json& v = object.at(field);
  if (!v.is_string()) return Status::error(std::string(field) + " must be a string");
  return v.get<std::string>();
}

constexpr const char* fields[] = {"client", "op", "key", "value", "call_ns", "return_ns", "status"};

// What an entry must satisfy beyond its fields' types (history.h).
Status check_consistency(const Entry& e) {
  if (e.status == Outcome::unknown) {
    if (e.return_ns) return Status::error("an unknown outcome has no return_ns (must be null)");
  } else {
    if (!e.return_ns) {
      return Status::error(std::string("status ") + outcome_name(e.status) + " needs a return_ns");
    }
    if (*e.return_ns < e.call_ns) return Status::error("return_ns is before call_ns");
  }
  switch (e.op) {
    case OpKind::put:
    case OpKind::append:
      if (!e.value) return Status::error(std::string(op_name(e.op)) + " needs a value (its argument)");
      break;
    case OpKind::del:
      if (e.value) return Status::error("delete has no value (must be null)");
      break;
    case OpKind::get:
      // Only a completed get has a result to record.
      if (e.status != Outcome::ok && e.value) {
        return Status::error(std::string("a get with status ") + outcome_name(e.status) +
                             " has no result (value must be null)");
      }
      break;
  }
  return Status::ok();
}

}  // namespace

std::string to_json_line(const Entry& e) {
  std::string line;
  line.reserve(96 + e.key.size() + (e.value ? e.value->size() : 0));
  line += "{\"client\":" + std::to_string(e.client);
  line += ",\"op\":\"";
  line += op_name(e.op);
  line += "\",\"key\":";
  append_byte_string(line, e.key);
  line += ",\"value\":";
  if (e.value) {
    append_byte_string(line, *e.value);
  } else {
    line += "null";
  }
  line += ",\"call_ns\":" + std::to_string(e.call_ns);
  line += ",\"return_ns\":" + (e.return_ns ? std::to_string(*e.return_ns) : std::string("null"));
  line += ",\"status\":\"";
  line += outcome_name(e.status);
  line += "\"}";
  return line;
}

Result<Entry> parse_json_line(std::string_view line) {
  // nlohmann::json keeps the last of duplicate keys silently; a history line
  // that names a field twice is ambiguous, so the parser callback records the
  // first duplicate of a top-level field.
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && duplicate.empty() &&
        !seen.insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json object;
  try {
    object = json::parse(line.begin(), line.end(), on_event);
  } catch (const json::exception& e) {
    return Status::error(std::string("not valid JSON: ") + e.what());
  }
  if (!object.is_object()) return Status::error("not a JSON object");
  if (!duplicate.empty()) return Status::error("field " + duplicate + " appears twice");
  for (const char* field : fields) {
    if (!object.contains(field)) return Status::error(std::string("missing field ") + field);
  }
  if (object.size() != std::size(fields)) {
    for (const auto& item : object.items()) {
      if (std::find_if(std::begin(fields), std::end(fields), [&](const char* f) {
            return item.key() == f;
          }) == std::end(fields)) {
        return Status::error("unknown field " + item.key());
      }
    }
  }

  Entry e;
  auto client = read_unsigned(object, "client");
  if (!client) return client.status();
  if (*client > UINT32_MAX) return Status::error("client " + std::to_string(*client) + " is over 2^32-1");
  e.client = static_cast<ClientId>(*client);

  auto op = read_name(object, "op");
  if (!op) return op.status();
  if (*op == "get") {
    e.op = OpKind::get;
  } else if (*op == "put") {
    e.op = OpKind::put;
  } else if (*op == "delete") {
    e.op = OpKind::del;
  } else if (*op == "append") {
    e.op = OpKind::append;
  } else {
    return Status::error("unknown op \"" + *op + "\" (get, put, delete or append)");
  }

  const json& key = object.at("key");
  if (!key.is_string()) return Status::error("key must be a string");
  auto key_bytes = utf8_to_bytes(key.get_ref<const std::string&>(), "key");
  if (!key_bytes) return key_bytes.status();
  e.key = std::move(*key_bytes);

  auto value = read_bytes_or_null(object, "value");
  if (!value) return value.status();
  e.value = std::move(*value);

  auto call = read_unsigned(object, "call_ns");
  if (!call) return call.status();
  e.call_ns = *call;

  if (!object.at("return_ns").is_null()) {
    auto ret = read_unsigned(object, "return_ns");
    if (!ret) return ret.status();
    e.return_ns = *ret;
  }

  auto status = read_name(object, "status");
  if (!status) return status.status();
  if (*status == "ok") {
    e.status = Outcome::ok;
  } else if (*status == "fail") {
    e.status = Outcome::fail;
  } else if (*status == "unknown") {
    e.status = Outcome::unknown;
  } else {
    return Status::error("unknown status \"" + *status + "\" (ok, fail or unknown)");
  }

  if (Status consistent = check_consistency(e); !consistent) return consistent;
  return e;
}

Status write_file(const std::string& path, const std::vector<Entry>& entries) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "w"), &std::fclose);
  if (!file) return Status::error("cannot create " + path + ": " + std::strerror(errno));
  for (const Entry& e : entries) {
    std::string line = to_json_line(e);
    line.push_back('\n');
    if (std::fwrite(line.data(), 1, line.size(), file.get()) != line.size()) {
      return Status::error("cannot write " + path + ": " + std::strerror(errno));
    }
  }
  // fclose flushes: a full disk shows up here, not in fwrite.
  if (std::fclose(file.release()) != 0) {
    return Status::error("cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::ok();
}

Result<std::vector<Entry>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("cannot open " + path + ": " + std::strerror(errno));
  std::vector<Entry> entries;
  std::string line;
  for (size_t line_number = 1; std::getline(in, line); ++line_number) {
    // Blank lines (a trailing newline, an editor's empty last line) carry no entry.
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto entry = parse_json_line(line);
    if (!entry) {
      return Status::error(path + ":" + std::to_string(line_number) + ": " + entry.reason());
    }
    entries.push_back(std::move(*entry));
  }
  if (in.bad()) return Status::error("cannot read " + path + ": " + std::strerror(errno));
  return entries;
}

}  // namespace pbft::history
