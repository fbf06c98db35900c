// Is this process started by an MPI launcher (mpirun, srun, mpiexec), and is that launcher still
// there? A rank's parent is its launcher (mpirun's local ranks, Open MPI's orted on other nodes,
// slurmstepd under srun); when the launcher is killed (SIGKILL of mpirun) its ranks are handed
// to init or a subreaper, so a changed parent pid means no one is left to collect the ranks'
// output or to stop them: they must stop by themselves (runner/signals.h).
#pragma once

#include <sys/types.h>

namespace bloom {

/// True when an MPI launcher started this process: the environment of Open MPI's mpirun
/// (OMPI_COMM_WORLD_SIZE), PMIx or PMI (srun --mpi=..., MPICH's mpiexec) or a Slurm job step.
/// A plain `runner JOB.yaml` from a shell is not launched: its parent may go away (nohup,
/// a closed terminal) while it is meant to go on.
bool under_launcher();

class LauncherWatch {
 public:
  /// Remembers the current parent; `active` false: gone() is never true (not launched).
  explicit LauncherWatch(bool active);
  /// The parent this process started with is gone (cheap: one getppid()).
  bool gone() const;
  bool active() const { return active_; }

 private:
  bool active_;
  pid_t parent_;
};

}  // namespace bloom
