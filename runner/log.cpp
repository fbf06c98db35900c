// The runner's logger (see log.h).
#include "runner/log.h"

#include <memory>
#include <string>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace bloom {

namespace {

// World rank 0's sink: info and debug to stdout, warnings and errors to stderr like every other
// rank's, so that stdout carries only what a command prints (`validate --json` stays JSON).
class SplitSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    if (msg.level < spdlog::level::warn) {
      out_.log(msg);
      return;
    }
    out_.flush();  // what came before stays before in a log that gets both streams
    err_.log(msg);
  }
  void flush() override {
    out_.flush();
    err_.flush();
  }
  void set_pattern(const std::string& pattern) override {
    out_.set_pattern(pattern);
    err_.set_pattern(pattern);
  }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    err_.set_formatter(formatter->clone());
    out_.set_formatter(std::move(formatter));
  }

 private:
  spdlog::sinks::stdout_sink_mt out_;
  spdlog::sinks::stderr_sink_mt err_;
};

void set_prefix(const std::string& prefix) {
  spdlog::default_logger()->set_pattern("[%H:%M:%S] [" + prefix + "] [%l] %v");
}

}  // namespace

void setup_logging(int world_rank, Verbosity verbosity) {
  spdlog::sink_ptr sink;
  if (world_rank == 0) {  // everything from rank 0: info on stdout, warnings on stderr
    sink = std::make_shared<SplitSink>();
    sink->set_level(verbosity == Verbosity::Verbose ? spdlog::level::debug
                    : verbosity == Verbosity::Quiet ? spdlog::level::warn
                                                    : spdlog::level::info);
  } else {  // warnings and errors from the others, on stderr
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_level(spdlog::level::warn);
  }
  auto logger = std::make_shared<spdlog::logger>("bloom", sink);
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  set_prefix(fmt::format("r{}", world_rank));
}

void set_log_layout(int world_rank, int dp_rank, int tp_rank) {
  set_prefix(fmt::format("r{} dp{} tp{}", world_rank, dp_rank, tp_rank));
}

}  // namespace bloom
