/* Ghost-atom feature exchange for message-passing models under MPI.

   Models from `ennp deploy` call the torch ops ennp::ghost_exchange (before
   every convolution after the first) and, in their backward pass,
   ennp::ghost_exchange_reverse. This file implements both with LAMMPS forward
   and reverse communication: the features of ghost nodes are copied from
   their owners, and the gradients of ghost features are summed back onto the
   owners. A LAMMPS style (pair or compute) evaluates its models through its
   GhostExchange and forwards its pack/unpack communication hooks to it.

   evaluate_concurrently() runs several models (member files, or the members of
   an ensemble package) at once, one thread each, on one MPI rank: the compiled
   models are mostly serial code (a second OpenMP thread gains nothing for the
   small ones), so separate models on separate cores is what makes use of a
   rank's threads. Not with OMP_PROC_BIND: a new thread inherits the binding of
   the thread that starts it, and OpenMP binds each new thread's first parallel
   region to the first core again. */

#ifndef ENNP_EXCHANGE_H
#define ENNP_EXCHANGE_H

#include "ennp_graph.h"
#include "ennp_model.h"

#include <vector>

namespace ennp {

class GhostExchange {
 public:
  // style: the Pair or Compute whose comm hooks call pack/unpack below
  GhostExchange(LAMMPS_NS::LAMMPS *lmp, void *style, bool style_is_pair);

  // Evaluate member `member` of model on g with this exchange serving the model's
  // torch ops (throws what Model::compute throws).
  void evaluate(Model &model, int member, const Graph &g, Result &out);

  // called by the torch ops (feature rows are graph nodes)
  void forward(double *rows, int width);    // ghost rows <- owners' rows
  void reverse(double *rows, int width);    // owners += ghost rows, ghost rows <- 0

  // LAMMPS communication hooks (same signatures as Pair/Compute)
  int pack_forward_comm(int n, int *list, double *buf);
  void unpack_forward_comm(int n, int first, double *buf);
  int pack_reverse_comm(int n, int first, double *buf);
  void unpack_reverse_comm(int n, int *list, double *buf);

 private:
  void communicate(bool forward, int width);
  void deactivate();
  LAMMPS_NS::LAMMPS *lmp_;
  void *style_;
  bool is_pair_;
  const Graph *graph_ = nullptr;
  int width_ = 0;
  std::vector<double> atoms_;    // (nlocal + nghost) x width_, rows by LAMMPS atom index
};

// One member of a model file to evaluate on a graph.
struct Evaluation {
  Model *model;
  int member;
  const Graph *graph;
};

// How many of n evaluations evaluate_concurrently() runs side by side on `lanes`
// threads: all of them, except a lone last one (n = q x lanes + 1), which would
// run on one thread while the others idle and runs after them on all threads.
inline int models_side_by_side(int n, int lanes)
{
  return (lanes > 1 && n % lanes == 1) ? n - 1 : n;
}

// OpenMP binds threads to cores (OMP_PROC_BIND set and not false).
bool threads_bound_to_cores();

// How many of n evaluations evaluate_concurrently() should run at a time: the rank's
// threads, on one rank, for CPU models, unless OpenMP binds threads to cores (then 1).
// The first call (told false) says in the log, as `style`, what it does.
int concurrent_lanes(LAMMPS_NS::LAMMPS *lmp, int n, bool gpu, const char *style, bool &told);

// Run evaluations[i] into out[i], up to `threads` at a time, each on its own
// thread with one torch thread and its own ghost exchange. One MPI rank only
// (ghost exchanges on several ranks must come in the same order on every rank);
// threads <= 1 runs them one after another through `sequential`, and so does the
// lone last one of models_side_by_side(), on all threads. Throws the first error.
void evaluate_concurrently(LAMMPS_NS::LAMMPS *lmp, GhostExchange &sequential,
                           const std::vector<Evaluation> &evaluations, int threads, std::vector<Result> &out);

}    // namespace ennp

#endif
