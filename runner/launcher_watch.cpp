// The launcher of this process (see launcher_watch.h).
#include "runner/launcher_watch.h"

#include <unistd.h>

#include <cstdlib>
#include <initializer_list>

namespace bloom {

bool under_launcher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                           "SLURM_STEP_ID"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return true;
  }
  return false;
}

LauncherWatch::LauncherWatch(bool active) : active_(active), parent_(getppid()) {}

bool LauncherWatch::gone() const { return active_ && getppid() != parent_; }

}  // namespace bloom
