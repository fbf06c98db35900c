// FasterTransformer's accuracy line and the --min-accuracy threshold (see accuracy_check.h).
#include "runner/accuracy_check.h"

#include <cmath>

#include <fmt/format.h>

#include "core/check.h"

namespace bloom {

double parse_min_accuracy(const std::string& text) {
  std::string number = text;
  const bool percent = !number.empty() && number.back() == '%';
  if (percent) number.pop_back();
  double x = 0.0;
  size_t used = 0;
  try {
    x = std::stod(number, &used);
  } catch (...) {
    used = 0;
  }
  const bool parsed = !number.empty() && used == number.size() && std::isfinite(x);
  if (parsed && percent) x /= 100.0;
  BLOOM_CHECK(parsed && x >= 0.0 && x <= 1.0,
              "--min-accuracy {}: expected a fraction in [0, 1] (0.35) or a percentage (35%)", text);
  return x;
}

std::string ft_accuracy_line(int64_t n_correct, int64_t n, double elapsed_seconds) {
  const double accuracy = n > 0 ? 100.0 * static_cast<double>(n_correct) / static_cast<double>(n) : 0.0;
  return fmt::format("Accuracy: {:0.4f}% ({}/{}) (elapsed time: {:.4f} sec)", accuracy, n_correct, n,
                     elapsed_seconds);
}

std::vector<std::string> runs_below(const io::ResultsFile& file, const std::vector<std::string>& names,
                                    double min_accuracy) {
  std::vector<std::string> out;
  for (const std::string& name : names) {
    const io::RunAttributes a = file.read_run_attributes(name);
    if (a.accuracy >= min_accuracy) continue;
    out.push_back(fmt::format("run {}: accuracy {:.4f} ({}/{}) is below --min-accuracy {:.4f} ({:.2f}%)",
                              name, a.accuracy, a.n_correct, a.n_examples, min_accuracy,
                              100.0 * min_accuracy));
  }
  return out;
}

}  // namespace bloom
