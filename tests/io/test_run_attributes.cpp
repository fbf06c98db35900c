// Tests of io/run_attributes through the results file: a bloom-eval/1 file (as runners before the
// statistics and provenance attributes wrote it: `perplexity` for the token perplexity; method,
// spec and dataset as extras; none of /2's new attributes) reads with each value where /2 keeps
// it and the missing ones empty, read-only: resuming it is refused, saying why.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "core/check.h"
#include "io/hdf5_util.h"
#include "io/results_file.h"

namespace bloom::io {
namespace {

namespace fs = std::filesystem;

RunAttributes v2_attributes() {
  RunAttributes a;
  a.model = "/models/bloom-560m";
  a.dtype = "fp16";
  a.backend = "cuda";
  a.n_correct = 1;
  a.accuracy = 1.0;
  a.accuracy_stderr = 0.25;
  a.token_perplexity = 12.25;
  a.passage_perplexity = 48.5;
  a.method = "teacher_forced";
  a.spec = "name: a\n";
  a.tokenizer = "/models/bloom-560m/tokenizer.json";
  a.dataset = "/data/lambada_test.jsonl";
  a.environment = "{}";
  a.weights_fingerprint = std::string(64, 'd');
  return a;
}

// Turns a /2 file into what a /1 runner wrote.
void make_schema_v1(const std::string& path) {
  h5::quiet_errors();
  h5::Handle f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  ASSERT_TRUE(f.valid());
  h5::write_attribute(f.get(), "schema", std::string("bloom-eval/1"));
  h5::Handle run = h5::open_group(f.get(), "runs/a");
  const double token_perplexity = h5::read_double_attribute(run.get(), "token_perplexity");
  for (const char* name : {"accuracy_stderr", "accuracy_ci95_low", "accuracy_ci95_high", "token_perplexity",
                           "passage_perplexity", "n_evaluated", "overrides", "started_utc", "finished_utc",
                           "environment", "config_sha256", "tokenizer_sha256", "dataset_sha256",
                           "weights_fingerprint", "tokenizer"})
    ASSERT_GE(H5Adelete(run.get(), name), 0) << name;
  h5::write_attribute(run.get(), "perplexity", token_perplexity);
  // /1 runners wrote no checksums.
  ASSERT_GE(H5Adelete(f.get(), "attributes_crc32"), 0);
  ASSERT_GE(H5Adelete(run.get(), "attributes_crc32"), 0);
  ASSERT_GE(H5Ldelete(run.get(), "predictions/checksum", H5P_DEFAULT), 0);
}

TEST(RunAttributes, SchemaV1IsReadReadOnly) {
  std::string dir = (fs::temp_directory_path() / "bloom_v1_XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/old.h5";
  PassageResult row;
  row.index = 0;
  row.correct = true;
  row.target_ids = row.predicted_ids = {17, 18};
  {
    ResultsFile w(path, OpenMode::CreateNew, "v", "spec");
    w.begin_run("a", 1, v2_attributes());
    w.write_predictions("a", {0}, {row});
    w.finish_run("a", v2_attributes());
    w.set_complete(true);
  }
  make_schema_v1(path);
  {
    ResultsFile r(path, OpenMode::ReadOnly, "", "");
    EXPECT_EQ(r.schema_version(), 1);
    EXPECT_EQ(r.read_file_info().schema, "bloom-eval/1");
    const RunAttributes a = r.read_run_attributes("a");
    EXPECT_EQ(a.token_perplexity, 12.25);  // from `perplexity`
    EXPECT_EQ(a.accuracy, 1.0);
    EXPECT_EQ(a.method, "teacher_forced");  // kept where /1 had it
    EXPECT_EQ(a.spec, "name: a\n");
    EXPECT_EQ(a.dataset, "/data/lambada_test.jsonl");
    EXPECT_EQ(a.tokenizer, "");  // absent there: empty, no error
    EXPECT_EQ(a.accuracy_stderr, 0.0);
    EXPECT_EQ(a.passage_perplexity, 0.0);
    EXPECT_EQ(a.environment, "");
    EXPECT_EQ(a.extra_numbers.count("perplexity"), 0u);  // not an extra: it is token_perplexity
    EXPECT_TRUE(a.complete);
    EXPECT_EQ(r.read_predictions("a")[0].predicted_ids, row.predicted_ids);
  }
  std::string message;
  try {
    ResultsFile w(path, OpenMode::Resume, "v", "spec");
  } catch (const Error& e) {
    message = e.what();
  }
  for (const char* part : {"old.h5", "bloom-eval/1", "older runner", "output.overwrite"})
    EXPECT_NE(message.find(part), std::string::npos) << message;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bloom::io
