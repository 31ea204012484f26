// Error values for bad input, bad configuration and I/O failure. Broken
// invariants are not errors: they are PBFT_ASSERTs (see assert.h).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace pbft {

// The reason an input was rejected. Cheap to return on the success path.
class Status {
 public:
  Status() = default;
  static Status ok() { return {}; }
  static Status error(std::string reason) { return Status(std::move(reason)); }

  bool is_ok() const { return !reason_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const std::string& reason() const {
    static const std::string ok_text = "ok";
    return reason_ ? *reason_ : ok_text;
  }

 private:
  explicit Status(std::string reason) : reason_(std::move(reason)) {}
  std::optional<std::string> reason_;
};

// A value or the reason there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status error) : v_(std::move(error)) {}  // NOLINT: must not be ok

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  Status status() const { return is_ok() ? Status::ok() : std::get<1>(v_); }
  const std::string& reason() const { return std::get<1>(v_).reason(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace pbft
