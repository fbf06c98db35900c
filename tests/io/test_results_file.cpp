// Tests of io/results_file: a write -> read round trip of every field of schema "bloom-eval/2",
// resume (done rows, torn timings, a writer killed without closing), open modes, and the errors
// users meet (existing file, foreign or non-HDF5 file, bad directory), which must name the path
// and come only through bloom::Error, with nothing printed by HDF5.
#include "io/results_file.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "core/check.h"
#include "io/hdf5_util.h"
#include "tests/test_support.h"

namespace bloom::io {
namespace {

namespace fs = std::filesystem;

class ResultsFileTest : public bloom::testing::TempDirTest {
 protected:
  void TearDown() override {
    std::error_code ec;  // a test takes the folder's write permission away
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    TempDirTest::TearDown();
  }
  std::string file(const std::string& name) const { return path(name); }
};

RunAttributes sample_attributes() {
  RunAttributes a;
  a.model = "bigscience/bloom-560m";
  a.dtype = "fp16";
  a.backend = "cuda";
  a.batch_size = 16;
  a.max_tokens = 0;
  a.tp = 2;
  a.dp = 4;
  a.method = "teacher_forced";
  a.spec = "model: bloom-560m\nbatch:\n  size: 16\n";
  a.tokenizer = "/models/bloom-560m/tokenizer.json";
  a.dataset = "/data/lambada_test.jsonl";
  a.overrides = "--set batch.size=16 --limit 5";
  a.started_utc = "2026-12-01T23:20:02Z";
  a.environment = R"({"hosts": ["node1"], "versions": {"hdf5": "1.10.8"}})";
  a.config_sha256 = std::string(64, 'a');
  a.tokenizer_sha256 = std::string(64, 'b');
  a.dataset_sha256 = std::string(64, 'c');
  a.weights_fingerprint = std::string(64, 'd');
  a.extra_strings["note"] = "an extra";
  a.extra_numbers["temperature"] = 0.5;
  a.extra_ints["seed"] = 1234;
  return a;
}

RunAttributes final_attributes() {
  RunAttributes a = sample_attributes();
  a.n_correct = 3;
  a.accuracy = 0.6;
  a.accuracy_stderr = 0.2449;
  a.accuracy_ci95_low = 0.2307;
  a.accuracy_ci95_high = 0.8824;
  a.token_perplexity = 12.25;
  a.passage_perplexity = 48.5;
  a.n_evaluated = 4;
  a.finished_utc = "2026-12-01T23:21:00Z";
  a.load_seconds = 1.5;
  a.tokenize_seconds = 0.25;
  a.evaluate_seconds = 7.75;
  a.wall_seconds = 9.5;
  a.tokens_per_second = 62000.5;
  a.passages_per_second = 700.25;
  a.peak_device_bytes = int64_t{3} << 33;
  return a;
}

PassageResult passage(int64_t index, size_t n_target, bool correct) {
  PassageResult r;
  r.index = index;
  r.correct = correct;
  r.target_logprob = -0.5 * static_cast<double>(index) - 0.125;
  r.context_len = static_cast<int32_t>(40 + index);
  for (size_t i = 0; i < n_target; ++i) {
    r.target_ids.push_back(static_cast<int32_t>(index * 100000 + i));
    r.predicted_ids.push_back(correct ? r.target_ids.back() : -static_cast<int32_t>(i));
  }
  return r;
}

BatchTiming timing(int64_t batch, int32_t rank) {
  BatchTiming t;
  t.batch = batch;
  t.rank = rank;
  t.dp_rank = rank / 2;
  t.tp_rank = rank % 2;
  t.n_sequences = 16;
  t.n_tokens = (int64_t{1} << 40) + batch;
  t.forward_seconds = 0.125 * static_cast<double>(batch + 1);
  t.comm_seconds = 0.01 * rank;
  t.wait_seconds = 0.001;
  t.start_seconds = 2.0 * static_cast<double>(batch);
  return t;
}

void expect_same(const PassageResult& a, const PassageResult& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.correct, b.correct);
  EXPECT_EQ(a.target_logprob, b.target_logprob);
  EXPECT_EQ(a.context_len, b.context_len);
  EXPECT_EQ(a.target_ids, b.target_ids);
  EXPECT_EQ(a.predicted_ids, b.predicted_ids);
}

void expect_same(const BatchTiming& a, const BatchTiming& b) {
  EXPECT_EQ(a.batch, b.batch);
  EXPECT_EQ(a.rank, b.rank);
  EXPECT_EQ(a.dp_rank, b.dp_rank);
  EXPECT_EQ(a.tp_rank, b.tp_rank);
  EXPECT_EQ(a.n_sequences, b.n_sequences);
  EXPECT_EQ(a.n_tokens, b.n_tokens);
  EXPECT_EQ(a.forward_seconds, b.forward_seconds);
  EXPECT_EQ(a.comm_seconds, b.comm_seconds);
  EXPECT_EQ(a.wait_seconds, b.wait_seconds);
  EXPECT_EQ(a.start_seconds, b.start_seconds);
}

// Runs `body`, expects a bloom::Error whose message contains every one of `parts`, and that HDF5
// printed nothing on the way.
void expect_error(const std::function<void()>& body, const std::vector<std::string>& parts) {
  ::testing::internal::CaptureStderr();
  std::string message;
  try {
    body();
  } catch (const Error& e) {
    message = e.what();
  }
  std::string printed = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(message.empty()) << "no bloom::Error thrown";
  for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
  EXPECT_EQ(printed, "") << "HDF5 printed to stderr";
}

TEST_F(ResultsFileTest, RoundTripsEveryField) {
  const std::string path = file("job.h5");
  const std::string spec = "jobs:\n  - name: a\n    model: bloom-560m  # ü\n";
  std::vector<PassageResult> expected = {passage(10, 1, true), passage(11, 0, false),
                                         passage(12, 5000, true), passage(13, 2, false),
                                         passage(14, 3, true)};
  std::vector<BatchTiming> timings = {timing(0, 0), timing(0, 1), timing(1, 0), timing(1, 1), timing(2, 0)};
  {
    ResultsFile w(path, OpenMode::CreateNew, "v0.1.0-3-gabc", spec);
    EXPECT_TRUE(w.run_names().empty());
    w.begin_run("a", 5, sample_attributes());
    EXPECT_FALSE(w.run_complete("a"));
    EXPECT_EQ(w.done_rows("a"), std::vector<uint8_t>(5, 0));
    // Out of order, across calls, one call with an empty sequence and a long one.
    w.write_predictions("a", {3, 0}, {expected[3], expected[0]});
    w.append_timings("a", {timings[0], timings[1]});
    EXPECT_EQ(w.done_rows("a"), (std::vector<uint8_t>{1, 0, 0, 1, 0}));
    w.write_predictions("a", {4, 1, 2}, {expected[4], expected[1], expected[2]});
    w.write_predictions("a", {}, {});
    w.append_timings("a", {});
    w.append_timings("a", {timings[2]});
    w.append_timings("a", {timings[3], timings[4]});
    w.finish_run("a", final_attributes());
    EXPECT_TRUE(w.run_complete("a"));
    EXPECT_FALSE(w.read_file_info().complete);
    w.set_complete(true);
  }
  ResultsFile r(path, OpenMode::ReadOnly, "", "");
  ResultsFileInfo info = r.read_file_info();
  EXPECT_EQ(info.schema, "bloom-eval/2");
  EXPECT_EQ(r.schema_version(), 2);
  EXPECT_EQ(info.runner_version, "v0.1.0-3-gabc");
  EXPECT_EQ(info.job_spec, spec);
  EXPECT_EQ(info.created.size(), 20u) << info.created;  // 2026-01-02T03:04:05Z
  EXPECT_TRUE(info.complete);
  EXPECT_EQ(r.run_names(), std::vector<std::string>{"a"});
  EXPECT_TRUE(r.run_complete("a"));
  EXPECT_FALSE(r.run_complete("absent"));
  EXPECT_EQ(r.done_rows("a"), std::vector<uint8_t>(5, 1));

  std::vector<PassageResult> got = r.read_predictions("a");
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) expect_same(got[i], expected[i]);

  std::vector<BatchTiming> got_timings = r.read_timings("a");
  ASSERT_EQ(got_timings.size(), timings.size());
  for (size_t i = 0; i < timings.size(); ++i) expect_same(got_timings[i], timings[i]);

  RunAttributes want = final_attributes();
  RunAttributes a = r.read_run_attributes("a");
  EXPECT_EQ(a.model, want.model);
  EXPECT_EQ(a.dtype, want.dtype);
  EXPECT_EQ(a.backend, want.backend);
  EXPECT_EQ(a.batch_size, want.batch_size);
  EXPECT_EQ(a.max_tokens, want.max_tokens);
  EXPECT_EQ(a.tp, want.tp);
  EXPECT_EQ(a.dp, want.dp);
  EXPECT_EQ(a.n_examples, 5);
  EXPECT_EQ(a.n_correct, want.n_correct);
  EXPECT_EQ(a.accuracy, want.accuracy);
  EXPECT_EQ(a.accuracy_stderr, want.accuracy_stderr);
  EXPECT_EQ(a.accuracy_ci95_low, want.accuracy_ci95_low);
  EXPECT_EQ(a.accuracy_ci95_high, want.accuracy_ci95_high);
  EXPECT_EQ(a.token_perplexity, want.token_perplexity);
  EXPECT_EQ(a.passage_perplexity, want.passage_perplexity);
  EXPECT_EQ(a.n_evaluated, want.n_evaluated);
  for (auto field : {&RunAttributes::method, &RunAttributes::tokenizer, &RunAttributes::dataset,
                     &RunAttributes::spec, &RunAttributes::overrides, &RunAttributes::started_utc,
                     &RunAttributes::finished_utc, &RunAttributes::environment,
                     &RunAttributes::config_sha256, &RunAttributes::tokenizer_sha256,
                     &RunAttributes::dataset_sha256, &RunAttributes::weights_fingerprint})
    EXPECT_EQ(a.*field, want.*field);
  EXPECT_EQ(a.load_seconds, want.load_seconds);
  EXPECT_EQ(a.tokenize_seconds, want.tokenize_seconds);
  EXPECT_EQ(a.evaluate_seconds, want.evaluate_seconds);
  EXPECT_EQ(a.wall_seconds, want.wall_seconds);
  EXPECT_EQ(a.tokens_per_second, want.tokens_per_second);
  EXPECT_EQ(a.passages_per_second, want.passages_per_second);
  EXPECT_EQ(a.peak_device_bytes, want.peak_device_bytes);
  EXPECT_TRUE(a.complete);
  EXPECT_EQ(a.extra_strings, want.extra_strings);
  EXPECT_EQ(a.extra_numbers, want.extra_numbers);
  EXPECT_EQ(a.extra_ints, want.extra_ints);
}

TEST_F(ResultsFileTest, EmptyRunAndRunOrder) {
  const std::string path = file("job.h5");
  {
    ResultsFile w(path, OpenMode::CreateNew, "v", "spec");
    w.begin_run("zeta", 0, sample_attributes());
    w.begin_run("alpha", 2, sample_attributes());
    w.begin_run("mid", 1, sample_attributes());
    w.finish_run("zeta", final_attributes());
    expect_error([&] { w.begin_run("alpha", 2, sample_attributes()); }, {path, "alpha", "unique"});
  }
  ResultsFile r(path, OpenMode::ReadOnly, "", "");
  EXPECT_EQ(r.run_names(), (std::vector<std::string>{"zeta", "alpha", "mid"}));
  EXPECT_TRUE(r.read_predictions("zeta").empty());
  EXPECT_TRUE(r.read_timings("zeta").empty());
  EXPECT_TRUE(r.run_complete("zeta"));
  // Rows never written read as zero / empty.
  std::vector<PassageResult> unwritten = r.read_predictions("alpha");
  ASSERT_EQ(unwritten.size(), 2u);
  expect_same(unwritten[1], PassageResult{});
}

TEST_F(ResultsFileTest, AttributesAreReplaced) {
  const std::string path = file("job.h5");
  ResultsFile w(path, OpenMode::CreateNew, "v", "spec");
  RunAttributes first = sample_attributes();
  first.extra_numbers["shape_changes"] = 1.5;
  w.begin_run("a", 1, first);
  w.write_predictions("a", {0}, {passage(0, 1, true)});
  RunAttributes second = final_attributes();
  second.model = "a much longer model name than before, to change the string's size";
  second.method = "generate";
  second.extra_strings["shape_changes"] = "now a string";
  w.finish_run("a", second);
  second.accuracy = 0.75;
  w.finish_run("a", second);
  w.set_complete(true);
  w.set_complete(false);
  RunAttributes a = w.read_run_attributes("a");
  EXPECT_EQ(a.model, second.model);
  EXPECT_EQ(a.accuracy, 0.75);
  EXPECT_EQ(a.method, "generate");
  EXPECT_EQ(a.extra_strings.at("shape_changes"), "now a string");
  EXPECT_EQ(a.extra_numbers.count("shape_changes"), 0u);
  EXPECT_FALSE(w.read_file_info().complete);
}

TEST_F(ResultsFileTest, CreateNewRefusesExistingFile) {
  const std::string path = file("job.h5");
  { ResultsFile w(path, OpenMode::CreateNew, "v", "spec"); }
  expect_error([&] { ResultsFile w(path, OpenMode::CreateNew, "v", "spec"); },
               {path, "already exists", "output.resume", "output.overwrite"});
  std::ofstream(file("notes.txt")) << "not ours";
  expect_error([&] { ResultsFile w(file("notes.txt"), OpenMode::CreateNew, "v", "spec"); },
               {file("notes.txt"), "already exists"});
}

TEST_F(ResultsFileTest, OverwriteStartsAfresh) {
  const std::string path = file("job.h5");
  {
    ResultsFile w(path, OpenMode::CreateNew, "v1", "spec1");
    w.begin_run("a", 3, sample_attributes());
  }
  std::ofstream(file("notes.txt")) << "not ours";
  for (const std::string& p : {path, file("notes.txt")}) {
    ResultsFile w(p, OpenMode::Overwrite, "v2", "spec2");
    EXPECT_TRUE(w.run_names().empty());
    EXPECT_EQ(w.read_file_info().runner_version, "v2");
  }
}

TEST_F(ResultsFileTest, ResumeReopensAndReportsDoneRows) {
  const std::string path = file("job.h5");
  std::string created;
  {
    ResultsFile w(path, OpenMode::Resume, "v1", "spec1");  // absent: created
    created = w.read_file_info().created;
    w.begin_run("done", 1, sample_attributes());
    w.write_predictions("done", {0}, {passage(7, 2, true)});
    w.finish_run("done", final_attributes());
    w.begin_run("half", 4, sample_attributes());
    w.write_predictions("half", {2, 0}, {passage(2, 1, true), passage(0, 3, false)});
    w.append_timings("half", {timing(0, 0)});
    w.set_complete(true);
  }
  ResultsFile w(path, OpenMode::Resume, "v2", "spec2");
  ResultsFileInfo info = w.read_file_info();
  EXPECT_FALSE(info.complete);  // a resumed job is unfinished until it says otherwise
  EXPECT_EQ(info.runner_version, "v2");
  EXPECT_EQ(info.job_spec, "spec2");
  EXPECT_EQ(info.created, created);
  EXPECT_TRUE(w.run_complete("done"));
  EXPECT_FALSE(w.run_complete("half"));
  expect_error([&] { w.begin_run("done", 1, sample_attributes()); }, {path, "done", "already complete"});
  expect_error([&] { w.begin_run("half", 5, sample_attributes()); }, {path, "half", "4 examples", "5"});
  w.begin_run("half", 4, sample_attributes());
  EXPECT_EQ(w.done_rows("half"), (std::vector<uint8_t>{1, 0, 1, 0}));
  expect_error([&] { w.finish_run("half", final_attributes()); }, {path, "half", "2 of 4 rows"});
  w.write_predictions("half", {1, 3}, {passage(1, 1, true), passage(3, 1, true)});
  w.append_timings("half", {timing(1, 0)});
  w.finish_run("half", final_attributes());
  EXPECT_TRUE(w.run_complete("half"));
  EXPECT_EQ(w.read_predictions("half")[2].index, 2);
  EXPECT_EQ(w.read_timings("half").size(), 2u);
  EXPECT_EQ(w.read_predictions("done")[0].target_ids.size(), 2u);
}

TEST_F(ResultsFileTest, ResumeTrimsTornTimingsAppend) {
  const std::string path = file("job.h5");
  {
    ResultsFile w(path, OpenMode::CreateNew, "v", "spec");
    w.begin_run("a", 1, sample_attributes());
    w.append_timings("a", {timing(0, 0), timing(0, 1)});
  }
  {  // What a crash inside append_timings leaves: one column longer than the others.
    h5::Handle f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    h5::Handle batch = h5::open_dataset(f.get(), "runs/a/timings/batch");
    h5::append_column(batch.get(), std::vector<int64_t>{99});
  }
  ResultsFile w(path, OpenMode::Resume, "v", "spec");
  w.begin_run("a", 1, sample_attributes());
  w.append_timings("a", {timing(1, 0)});
  std::vector<BatchTiming> got = w.read_timings("a");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].batch, 1);
}

// A resumed file is a new file holding the old one's finished rows: HDF5 state a killed writer
// left half-flushed is never written into (the data of a row whose done flag never came is gone).
TEST_F(ResultsFileTest, ResumeRebuildsTheFileFromItsFinishedRows) {
  const std::string path = file("job.h5");
  std::string created;
  {
    ResultsFile w(path, OpenMode::CreateNew, "v", "spec");
    created = w.read_file_info().created;
    w.begin_run("done", 1, sample_attributes());
    w.write_predictions("done", {0}, {passage(7, 2, true)});
    w.finish_run("done", final_attributes());
    w.begin_run("a", 3, sample_attributes());
    w.write_predictions("a", {1}, {passage(5, 4, true)});
    w.append_timings("a", {timing(0, 0)});
  }
  {  // A batch killed between its data and its done flags: row 2 written, not done.
    h5::Handle f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    h5::Handle index = h5::open_dataset(f.get(), "runs/a/predictions/index");
    h5::write_column(index.get(), std::vector<hsize_t>{2}, std::vector<int64_t>{99});
  }
  struct stat before {}, after {};
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  ResultsFile w(path, OpenMode::Resume, "v2", "spec2");
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);  // replaced, not reopened
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_EQ(w.read_file_info().created, created);
  EXPECT_EQ(w.read_file_info().runner_version, "v2");
  EXPECT_TRUE(w.run_complete("done"));
  EXPECT_EQ(w.read_run_attributes("done").n_correct, final_attributes().n_correct);
  expect_same(w.read_predictions("done")[0], passage(7, 2, true));
  EXPECT_FALSE(w.run_complete("a"));
  EXPECT_EQ(w.read_run_attributes("a").model, sample_attributes().model);
  EXPECT_EQ(w.done_rows("a"), (std::vector<uint8_t>{0, 1, 0}));
  expect_same(w.read_predictions("a")[1], passage(5, 4, true));
  EXPECT_EQ(w.read_predictions("a")[2].index, 0);  // the unfinished row's data was not copied
  ASSERT_EQ(w.read_timings("a").size(), 1u);
  expect_same(w.read_timings("a")[0], timing(0, 0));
}

TEST_F(ResultsFileTest, KilledWriterKeepsFlushedRows) {
  const std::string path = file("job.h5");
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // no destructor, no H5close: like a job killed after these calls returned
    auto* w = new ResultsFile(path, OpenMode::CreateNew, "v", "spec");
    w->begin_run("a", 3, sample_attributes());
    w->write_predictions("a", {1}, {passage(5, 4, true)});
    w->append_timings("a", {timing(0, 0), timing(0, 1)});
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ResultsFile w(path, OpenMode::Resume, "v", "spec");
  EXPECT_FALSE(w.run_complete("a"));
  w.begin_run("a", 3, sample_attributes());
  EXPECT_EQ(w.done_rows("a"), (std::vector<uint8_t>{0, 1, 0}));
  expect_same(w.read_predictions("a")[1], passage(5, 4, true));
  EXPECT_EQ(w.read_timings("a").size(), 2u);
}

TEST_F(ResultsFileTest, RejectsFilesThatAreNotOurs) {
  const std::string text = file("notes.txt");
  std::ofstream(text) << "hello, not HDF5\n";
  for (OpenMode mode : {OpenMode::Resume, OpenMode::ReadOnly}) {
    expect_error([&] { ResultsFile w(text, mode, "v", "spec"); }, {text, "not an HDF5 file"});
  }
  const std::string foreign = file("foreign.h5");
  h5::quiet_errors();
  { h5::Handle f(H5Fcreate(foreign.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), H5Fclose); }
  expect_error([&] { ResultsFile w(foreign, OpenMode::Resume, "v", "spec"); },
               {foreign, "not a bloom-eval results file", "schema"});
  {
    h5::Handle f(H5Fopen(foreign.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    h5::write_attribute(f.get(), "schema", std::string("bloom-eval/0"));
  }
  expect_error([&] { ResultsFile w(foreign, OpenMode::ReadOnly, "v", "spec"); },
               {foreign, "bloom-eval/0", "bloom-eval/1"});
  expect_error([&] { ResultsFile w(file("absent.h5"), OpenMode::ReadOnly, "v", "spec"); },
               {file("absent.h5"), "does not exist"});
}

TEST_F(ResultsFileTest, BadDirectoriesAreNamed) {
  const std::string missing = file("no/such/dir/job.h5");
  for (OpenMode mode : {OpenMode::CreateNew, OpenMode::Overwrite, OpenMode::Resume}) {
    expect_error([&] { ResultsFile w(missing, mode, "v", "spec"); },
                 {missing, file("no/such/dir"), "does not exist"});
  }
  std::ofstream(file("plain")) << "x";
  expect_error([&] { ResultsFile w(file("plain/job.h5"), OpenMode::CreateNew, "v", "spec"); },
               {file("plain/job.h5"), "not a directory"});
  // /proc refuses new files even to root.
  expect_error([] { ResultsFile w("/proc/bloom_results.h5", OpenMode::CreateNew, "v", "spec"); },
               {"/proc/bloom_results.h5"});

  fs::create_directory(file("locked"));
  fs::permissions(file("locked"), fs::perms::owner_read | fs::perms::owner_exec);
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  expect_error([&] { ResultsFile w(file("locked/job.h5"), OpenMode::CreateNew, "v", "spec"); },
               {file("locked/job.h5"), "not writable"});
}

TEST_F(ResultsFileTest, RejectsBadCalls) {
  const std::string path = file("job.h5");
  ResultsFile w(path, OpenMode::CreateNew, "v", "spec");
  w.begin_run("a", 3, sample_attributes());
  expect_error([&] { w.write_predictions("a", {3}, {passage(0, 1, true)}); }, {path, "'a'", "row 3", "[0, 3)"});
  expect_error([&] { w.write_predictions("a", {-1}, {passage(0, 1, true)}); }, {path, "row -1"});
  expect_error([&] { w.write_predictions("a", {0, 1}, {passage(0, 1, true)}); }, {path, "2 rows", "1 results"});
  expect_error([&] { w.write_predictions("a", {1, 1}, {passage(0, 1, true), passage(1, 1, true)}); },
               {path, "row 1 given twice"});
  PassageResult uneven = passage(0, 2, true);
  uneven.predicted_ids.pop_back();
  expect_error([&] { w.write_predictions("a", {0}, {uneven}); }, {path, "2 target ids", "1 predicted"});
  expect_error([&] { w.write_predictions("b", {0}, {passage(0, 1, true)}); }, {path, "no run 'b'"});
  expect_error([&] { w.append_timings("b", {timing(0, 0)}); }, {path, "no run 'b'"});
  expect_error([&] { w.read_predictions("b"); }, {path, "no run 'b'"});
  expect_error([&] { w.begin_run("x/y", 1, sample_attributes()); }, {"x/y"});
  expect_error([&] { w.begin_run("", 1, sample_attributes()); }, {"run name"});
  RunAttributes clash = sample_attributes();
  clash.extra_numbers["accuracy"] = 1.0;
  expect_error([&] { w.begin_run("c", 1, clash); }, {"accuracy", "fixed run attribute"});
  RunAttributes twice = sample_attributes();
  twice.extra_ints["note"] = 1;
  expect_error([&] { w.begin_run("d", 1, twice); }, {"note", "given twice"});
  RunAttributes provenance_clash = sample_attributes();
  provenance_clash.extra_strings["weights_fingerprint"] = "x";
  expect_error([&] { w.begin_run("f", 1, provenance_clash); }, {"weights_fingerprint", "fixed run attribute"});
  RunAttributes wrong_n = sample_attributes();
  wrong_n.n_examples = 7;
  expect_error([&] { w.begin_run("e", 3, wrong_n); }, {path, "n_examples = 7", "3 rows"});
  // Nothing of the failed writes reached the file.
  EXPECT_EQ(w.done_rows("a"), std::vector<uint8_t>(3, 0));
}

TEST_F(ResultsFileTest, ReadOnlyRefusesWrites) {
  const std::string path = file("job.h5");
  {
    ResultsFile w(path, OpenMode::CreateNew, "v", "spec");
    w.begin_run("a", 1, sample_attributes());
  }
  ResultsFile r(path, OpenMode::ReadOnly, "ignored", "ignored");
  EXPECT_EQ(r.read_file_info().runner_version, "v");
  expect_error([&] { r.begin_run("b", 1, sample_attributes()); }, {path, "read-only"});
  expect_error([&] { r.write_predictions("a", {0}, {passage(0, 1, true)}); }, {path, "read-only"});
  expect_error([&] { r.set_complete(true); }, {path, "read-only"});
}

}  // namespace
}  // namespace bloom::io
