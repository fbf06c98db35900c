#include "runner/log.h"

#include <memory>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace bloom {

void setup_logging(int world_rank, int dp_rank, int tp_rank, bool verbose) {
  spdlog::sink_ptr sink;
  if (world_rank == 0) {  // everything from rank 0, on stdout
    sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    sink->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  } else {  // warnings and errors from the others, on stderr
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_level(spdlog::level::warn);
  }
  auto logger = std::make_shared<spdlog::logger>("bloom", sink);
  logger->set_level(spdlog::level::debug);
  logger->set_pattern(fmt::format("[%H:%M:%S] [r{} dp{} tp{}] [%l] %v", world_rank, dp_rank, tp_rank));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace bloom
