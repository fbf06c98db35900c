// Small HDF5 C API helpers for io/ (internal: include only from .cpp files of bloom_io).
// Handle closes an hid_t (RAII); BLOOM_H5_CHECK throws bloom::Error with HDF5's own reason taken
// from its error stack; attributes are replaced on write; 1-D columns are read and written by
// row lists (point selections) or appended (extensible datasets).
// HDF5's automatic error-stack printing is switched off by quiet_errors(): errors reach users
// only through our exceptions.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <hdf5.h>

#include "core/check.h"

static_assert(std::is_same<hid_t, int64_t>::value, "HDF5 >= 1.10 expected (hid_t is int64_t)");

namespace bloom::io::h5 {

/// Owns one hid_t and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = -1; }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();
  /// Gives up ownership: the caller closes the returned id.
  hid_t release() {
    hid_t id = id_;
    id_ = -1;
    return id;
  }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

/// Switches off HDF5's automatic printing of error stacks (idempotent).
void quiet_errors();
/// HDF5's reasons for the last failure (outermost and innermost), then clears its error stack.
std::string error_detail();
/// "'<object path>' in '<file>'" for messages.
std::string describe(hid_t obj);

}  // namespace bloom::io::h5

/// BLOOM_H5_CHECK(ok, "fmt", args...): on failure throw "<message>: <HDF5 reason>". The reason is
/// captured before the message's arguments are evaluated (they may call HDF5 and clear its stack).
#define BLOOM_H5_CHECK(ok, ...)                                                           \
  do {                                                                                    \
    if (!(ok)) {                                                                          \
      std::string bloom_h5_detail_ = ::bloom::io::h5::error_detail();                     \
      ::bloom::throw_error(__FILE__, __LINE__, #ok,                                       \
                           fmt::format(__VA_ARGS__) + " (HDF5: " + bloom_h5_detail_ + ")"); \
    }                                                                                     \
  } while (0)

namespace bloom::io::h5 {

template <typename T> struct TypeOf;
template <> struct TypeOf<int64_t> {
  static hid_t mem() { return H5T_NATIVE_INT64; }
  static hid_t file() { return H5T_STD_I64LE; }
};
template <> struct TypeOf<int32_t> {
  static hid_t mem() { return H5T_NATIVE_INT32; }
  static hid_t file() { return H5T_STD_I32LE; }
};
template <> struct TypeOf<uint8_t> {
  static hid_t mem() { return H5T_NATIVE_UINT8; }
  static hid_t file() { return H5T_STD_U8LE; }
};
template <> struct TypeOf<double> {
  static hid_t mem() { return H5T_NATIVE_DOUBLE; }
  static hid_t file() { return H5T_IEEE_F64LE; }
};

/// Variable-length UTF-8 string type (H5T_C_S1 based).
Handle string_type();
/// Variable-length sequence of int32: little-endian in the file, native in memory.
Handle vlen_int32_type(bool in_file);

bool has_link(hid_t loc, const std::string& name);
Handle open_group(hid_t loc, const std::string& name);
/// New group; `track_order` keeps link creation order so children list in creation order.
Handle create_group(hid_t loc, const std::string& name, bool track_order = false);
Handle open_dataset(hid_t loc, const std::string& name);

// Attributes: writing replaces an existing attribute of that name.
bool has_attribute(hid_t obj, const std::string& name);
void write_attribute(hid_t obj, const std::string& name, const std::string& value);
void write_attribute(hid_t obj, const std::string& name, double value);
void write_attribute(hid_t obj, const std::string& name, int64_t value);
void write_attribute(hid_t obj, const std::string& name, uint8_t value);
std::string read_string_attribute(hid_t obj, const std::string& name);
double read_double_attribute(hid_t obj, const std::string& name);
int64_t read_int_attribute(hid_t obj, const std::string& name);
std::vector<std::string> attribute_names(hid_t obj);
/// H5T_STRING, H5T_FLOAT, H5T_INTEGER, ... of a stored attribute.
H5T_class_t attribute_class(hid_t obj, const std::string& name);

/// 1-D chunked dataset of `rows` rows; `extensible` makes the maximum size unlimited. Numeric
/// columns get an explicit fill value of 0, so unwritten rows read as 0. Chunks of fixed-size
/// types carry HDF5's Fletcher32 checksum (a damaged chunk fails to read; HDF5 filters no
/// variable-length data); fixed-size columns are allocated whole at creation.
Handle create_column(hid_t loc, const std::string& name, hid_t file_type, hsize_t rows,
                     bool extensible);
hsize_t column_rows(hid_t dset);
/// Writes buf[i] (of `mem_type`) at row rows[i]; rows must be distinct and in range. No rows: no-op.
void write_rows(hid_t dset, hid_t mem_type, const std::vector<hsize_t>& rows, const void* buf);
/// Grows the dataset by n rows and writes buf there. n == 0: no-op.
void append_rows(hid_t dset, hid_t mem_type, hsize_t n, const void* buf);
/// Sets the dataset's row count (extensible datasets).
void resize_rows(hid_t dset, hsize_t n);
/// Reads every row into buf (column_rows(dset) elements of `mem_type`).
void read_all(hid_t dset, hid_t mem_type, void* buf);

template <typename T>
void write_column(hid_t dset, const std::vector<hsize_t>& rows, const std::vector<T>& values) {
  write_rows(dset, TypeOf<T>::mem(), rows, values.data());
}
template <typename T>
void append_column(hid_t dset, const std::vector<T>& values) {
  append_rows(dset, TypeOf<T>::mem(), values.size(), values.data());
}
template <typename T>
std::vector<T> read_column(hid_t dset) {
  std::vector<T> values(column_rows(dset));
  if (!values.empty()) read_all(dset, TypeOf<T>::mem(), values.data());
  return values;
}
void write_vlen_column(hid_t dset, const std::vector<hsize_t>& rows,
                       const std::vector<const std::vector<int32_t>*>& values);
std::vector<std::vector<int32_t>> read_vlen_column(hid_t dset);

}  // namespace bloom::io::h5
