// HDF5 C API helpers for io/: handles, error reasons, replaceable scalar attributes, 1-D columns.
// Written against the HDF5 1.10 API (H5Dvlen_reclaim, H5Aiterate2, H5Eset_auto2).
#include "io/hdf5_util.h"

#include <algorithm>
#include <array>

namespace bloom::io::h5 {

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    close_ = other.close_;
    other.id_ = -1;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && close_) close_(id_);
  id_ = -1;
}

void quiet_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

namespace {
herr_t collect_error(unsigned /*n*/, const H5E_error2_t* err, void* out) {
  auto* descriptions = static_cast<std::vector<std::string>*>(out);
  std::string text = err->desc ? err->desc : "";
  if (text.empty() && err->func_name) text = std::string("in ") + err->func_name;
  if (!text.empty()) descriptions->push_back(text);
  return 0;
}
}  // namespace

std::string error_detail() {
  std::vector<std::string> descriptions;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &descriptions);
  H5Eclear2(H5E_DEFAULT);
  if (descriptions.empty()) return "no reason given";
  // The outermost entry says what failed, the innermost why (e.g. errno text).
  if (descriptions.size() == 1) return descriptions.front();
  return descriptions.front() + ": " + descriptions.back();
}

std::string describe(hid_t obj) {
  std::string object = "?", file = "?";
  ssize_t n = H5Iget_name(obj, nullptr, 0);
  if (n > 0) {
    object.assign(static_cast<size_t>(n) + 1, '\0');
    H5Iget_name(obj, object.data(), object.size());
    object.resize(static_cast<size_t>(n));
  }
  n = H5Fget_name(obj, nullptr, 0);
  if (n > 0) {
    file.assign(static_cast<size_t>(n) + 1, '\0');
    H5Fget_name(obj, file.data(), file.size());
    file.resize(static_cast<size_t>(n));
  }
  H5Eclear2(H5E_DEFAULT);
  return "'" + object + "' in '" + file + "'";
}

Handle string_type() {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  BLOOM_H5_CHECK(type.valid() && H5Tset_size(type.get(), H5T_VARIABLE) >= 0 &&
                     H5Tset_cset(type.get(), H5T_CSET_UTF8) >= 0,
                 "cannot make the HDF5 string type");
  return type;
}

Handle vlen_int32_type(bool in_file) {
  Handle type(H5Tvlen_create(in_file ? H5T_STD_I32LE : H5T_NATIVE_INT32), H5Tclose);
  BLOOM_H5_CHECK(type.valid(), "cannot make the HDF5 int32 sequence type");
  return type;
}

bool has_link(hid_t loc, const std::string& name) {
  htri_t exists = H5Lexists(loc, name.c_str(), H5P_DEFAULT);
  BLOOM_H5_CHECK(exists >= 0, "cannot look up '{}' under {}", name, describe(loc));
  return exists > 0;
}

Handle open_group(hid_t loc, const std::string& name) {
  Handle group(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), H5Gclose);
  BLOOM_H5_CHECK(group.valid(), "cannot open group '{}' under {}", name, describe(loc));
  return group;
}

Handle create_group(hid_t loc, const std::string& name, bool track_order) {
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  if (track_order) H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  Handle group(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
  BLOOM_H5_CHECK(group.valid(), "cannot create group '{}' under {}", name, describe(loc));
  return group;
}

Handle open_dataset(hid_t loc, const std::string& name) {
  Handle dset(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
  BLOOM_H5_CHECK(dset.valid(), "cannot open dataset '{}' under {}", name, describe(loc));
  return dset;
}

bool has_attribute(hid_t obj, const std::string& name) {
  htri_t exists = H5Aexists(obj, name.c_str());
  BLOOM_H5_CHECK(exists >= 0, "cannot look up attribute '{}' of {}", name, describe(obj));
  return exists > 0;
}

namespace {
Handle open_attribute(hid_t obj, const std::string& name) {
  Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  BLOOM_H5_CHECK(attr.valid(), "cannot open attribute '{}' of {}", name, describe(obj));
  return attr;
}

// A scalar attribute of `file_type`, written from `value` (of `mem_type`). An existing attribute
// of the same type is overwritten in place; one of another type is deleted and created again.
void write_scalar(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type, const void* value) {
  if (has_attribute(obj, name)) {
    Handle attr = open_attribute(obj, name);
    Handle stored(H5Aget_type(attr.get()), H5Tclose);
    Handle space(H5Aget_space(attr.get()), H5Sclose);
    if (H5Tequal(stored.get(), file_type) > 0 && H5Sget_simple_extent_type(space.get()) == H5S_SCALAR) {
      BLOOM_H5_CHECK(H5Awrite(attr.get(), mem_type, value) >= 0, "cannot write attribute '{}' of {}",
                     name, describe(obj));
      return;
    }
    attr.reset();
    BLOOM_H5_CHECK(H5Adelete(obj, name.c_str()) >= 0, "cannot replace attribute '{}' of {}", name,
                   describe(obj));
  }
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  BLOOM_H5_CHECK(attr.valid(), "cannot create attribute '{}' of {}", name, describe(obj));
  BLOOM_H5_CHECK(H5Awrite(attr.get(), mem_type, value) >= 0, "cannot write attribute '{}' of {}", name,
                 describe(obj));
}
}  // namespace

void write_attribute(hid_t obj, const std::string& name, const std::string& value) {
  Handle type = string_type();
  const char* text = value.c_str();
  write_scalar(obj, name, type.get(), type.get(), &text);
}

void write_attribute(hid_t obj, const std::string& name, double value) {
  write_scalar(obj, name, TypeOf<double>::file(), TypeOf<double>::mem(), &value);
}

void write_attribute(hid_t obj, const std::string& name, int64_t value) {
  write_scalar(obj, name, TypeOf<int64_t>::file(), TypeOf<int64_t>::mem(), &value);
}

void write_attribute(hid_t obj, const std::string& name, uint8_t value) {
  write_scalar(obj, name, TypeOf<uint8_t>::file(), TypeOf<uint8_t>::mem(), &value);
}

std::string read_string_attribute(hid_t obj, const std::string& name) {
  Handle attr = open_attribute(obj, name);
  Handle stored(H5Aget_type(attr.get()), H5Tclose);
  BLOOM_CHECK(H5Tget_class(stored.get()) == H5T_STRING, "attribute '{}' of {} is not a string", name,
              describe(obj));
  if (H5Tis_variable_str(stored.get()) > 0) {
    Handle type = string_type();
    char* text = nullptr;
    BLOOM_H5_CHECK(H5Aread(attr.get(), type.get(), &text) >= 0, "cannot read attribute '{}' of {}",
                   name, describe(obj));
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  // Fixed-length strings (written by other tools, e.g. numpy bytes through h5py).
  std::string value(H5Tget_size(stored.get()), '\0');
  BLOOM_H5_CHECK(H5Aread(attr.get(), stored.get(), value.data()) >= 0,
                 "cannot read attribute '{}' of {}", name, describe(obj));
  value.resize(std::min(value.size(), value.find('\0')));
  return value;
}

double read_double_attribute(hid_t obj, const std::string& name) {
  Handle attr = open_attribute(obj, name);
  double value = 0.0;
  BLOOM_H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value) >= 0,
                 "cannot read attribute '{}' of {} as a number", name, describe(obj));
  return value;
}

int64_t read_int_attribute(hid_t obj, const std::string& name) {
  Handle attr = open_attribute(obj, name);
  int64_t value = 0;
  BLOOM_H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_INT64, &value) >= 0,
                 "cannot read attribute '{}' of {} as an integer", name, describe(obj));
  return value;
}

namespace {
herr_t collect_name(hid_t /*loc*/, const char* name, const H5A_info_t* /*info*/, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> attribute_names(hid_t obj) {
  std::vector<std::string> names;
  BLOOM_H5_CHECK(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names) >= 0,
                 "cannot list the attributes of {}", describe(obj));
  return names;
}

H5T_class_t attribute_class(hid_t obj, const std::string& name) {
  Handle attr = open_attribute(obj, name);
  Handle stored(H5Aget_type(attr.get()), H5Tclose);
  return H5Tget_class(stored.get());
}

Handle create_column(hid_t loc, const std::string& name, hid_t file_type, hsize_t rows, bool extensible) {
  // Fixed columns: up to 4096 rows a chunk (32 KB of int64). Extensible ones grow by a few rows a
  // batch: 256-row chunks keep a run's ten timing columns at ~20 KB instead of ~330 KB.
  constexpr hsize_t kChunkRows = 4096, kExtensibleChunkRows = 256;
  hsize_t dims[1] = {rows};
  hsize_t max_dims[1] = {extensible ? H5S_UNLIMITED : rows};
  Handle space(H5Screate_simple(1, dims, max_dims), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  // A fixed dataset of 0 rows cannot be chunked (chunks may not exceed its maximum size).
  if (extensible || rows > 0) {
    hsize_t chunk[1] = {extensible ? kExtensibleChunkRows : std::min(rows, kChunkRows)};
    H5Pset_chunk(dcpl.get(), 1, chunk);
    // Every chunk carries a checksum: a damaged chunk fails to read instead of reading wrong.
    // (HDF5 allows no filter on variable-length data: those columns rely on the row checksums
    // of io/results_integrity.h.)
    if (H5Tget_class(file_type) != H5T_VLEN)
      BLOOM_H5_CHECK(H5Pset_fletcher32(dcpl.get()) >= 0, "cannot add a checksum to dataset '{}'", name);
    // Fixed-size columns get their chunks at creation: row writes then change no metadata
    // (no chunk index update), so a write cut short cannot leave the index half-updated.
    if (!extensible) H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);
  }
  if (H5Tget_class(file_type) != H5T_VLEN) {
    std::array<unsigned char, 16> zero{};
    H5Pset_fill_value(dcpl.get(), file_type, zero.data());
  }
  Handle dset(H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
              H5Dclose);
  BLOOM_H5_CHECK(dset.valid(), "cannot create dataset '{}' under {}", name, describe(loc));
  return dset;
}

hsize_t column_rows(hid_t dset) {
  Handle space(H5Dget_space(dset), H5Sclose);
  hsize_t dims[1] = {0};
  BLOOM_H5_CHECK(space.valid() && H5Sget_simple_extent_ndims(space.get()) == 1 &&
                     H5Sget_simple_extent_dims(space.get(), dims, nullptr) == 1,
                 "{} is not a 1-D dataset", describe(dset));
  return dims[0];
}

void write_rows(hid_t dset, hid_t mem_type, const std::vector<hsize_t>& rows, const void* buf) {
  if (rows.empty()) return;
  Handle file_space(H5Dget_space(dset), H5Sclose);
  // Point selections are written in the order the points are listed, matching buf.
  BLOOM_H5_CHECK(H5Sselect_elements(file_space.get(), H5S_SELECT_SET, rows.size(), rows.data()) >= 0,
                 "cannot select {} rows of {}", rows.size(), describe(dset));
  hsize_t n[1] = {rows.size()};
  Handle mem_space(H5Screate_simple(1, n, nullptr), H5Sclose);
  BLOOM_H5_CHECK(H5Dwrite(dset, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, buf) >= 0,
                 "cannot write {} rows of {}", rows.size(), describe(dset));
}

void append_rows(hid_t dset, hid_t mem_type, hsize_t n, const void* buf) {
  if (n == 0) return;
  hsize_t start[1] = {column_rows(dset)};
  hsize_t count[1] = {n};
  resize_rows(dset, start[0] + n);
  Handle file_space(H5Dget_space(dset), H5Sclose);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle mem_space(H5Screate_simple(1, count, nullptr), H5Sclose);
  BLOOM_H5_CHECK(H5Dwrite(dset, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, buf) >= 0,
                 "cannot append {} rows to {}", n, describe(dset));
}

void resize_rows(hid_t dset, hsize_t n) {
  hsize_t dims[1] = {n};
  BLOOM_H5_CHECK(H5Dset_extent(dset, dims) >= 0, "cannot resize {} to {} rows", describe(dset), n);
}

void read_all(hid_t dset, hid_t mem_type, void* buf) {
  BLOOM_H5_CHECK(H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0, "cannot read {}",
                 describe(dset));
}

void write_vlen_column(hid_t dset, const std::vector<hsize_t>& rows,
                       const std::vector<const std::vector<int32_t>*>& values) {
  std::vector<hvl_t> sequences(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    sequences[i].len = values[i]->size();
    // HDF5 only reads through this pointer when writing.
    sequences[i].p = values[i]->empty() ? nullptr : const_cast<int32_t*>(values[i]->data());
  }
  Handle type = vlen_int32_type(false);
  write_rows(dset, type.get(), rows, sequences.data());
}

std::vector<std::vector<int32_t>> read_vlen_column(hid_t dset) {
  std::vector<hvl_t> sequences(column_rows(dset));
  std::vector<std::vector<int32_t>> values(sequences.size());
  if (sequences.empty()) return values;
  Handle type = vlen_int32_type(false);
  read_all(dset, type.get(), sequences.data());
  for (size_t i = 0; i < sequences.size(); ++i) {
    const auto* p = static_cast<const int32_t*>(sequences[i].p);
    values[i].assign(p, p + sequences[i].len);
  }
  Handle space(H5Dget_space(dset), H5Sclose);
  H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, sequences.data());
  return values;
}

}  // namespace bloom::io::h5
