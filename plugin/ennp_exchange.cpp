#include "ennp_exchange.h"

#include "atom.h"
#include "comm.h"
#include "compute.h"
#include "lammps.h"
#include "pair.h"
#include "utils.h"

#include <torch/library.h>
#include <torch/torch.h>

#include <dlfcn.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <thread>

namespace ennp {

// The exchange of the style whose model is running on this thread.
static thread_local GhostExchange *active = nullptr;

GhostExchange::GhostExchange(LAMMPS_NS::LAMMPS *lmp, void *style, bool style_is_pair) :
    lmp_(lmp), style_(style), is_pair_(style_is_pair)
{
}

void GhostExchange::evaluate(Model &model, int member, const Graph &g, Result &out)
{
  graph_ = &g;
  active = this;
  try {
    model.compute(g, member, out);
  } catch (...) {
    deactivate();
    throw;
  }
  deactivate();
}

void GhostExchange::deactivate()
{
  if (active == this) active = nullptr;
  graph_ = nullptr;
}

void GhostExchange::communicate(bool forward, int width)
{
  width_ = width;
  auto *comm = lmp_->comm;
  // one rank: every ghost is a periodic image mapped onto its owner, nothing to send
  if (comm->nprocs == 1) return;
  if (is_pair_) {
    auto *pair = (LAMMPS_NS::Pair *) style_;
    forward ? comm->forward_comm(pair, width) : comm->reverse_comm(pair, width);
  } else {
    auto *compute = (LAMMPS_NS::Compute *) style_;
    forward ? comm->forward_comm(compute, width) : comm->reverse_comm(compute, width);
  }
}

void GhostExchange::forward(double *rows, int width)
{
  const Graph &g = *graph_;
  const int nall = lmp_->atom->nlocal + lmp_->atom->nghost;
  atoms_.assign((size_t) nall * width, 0.0);
  for (int i = 0; i < g.nlocal; i++) std::copy_n(rows + (size_t) i * width, width, &atoms_[(size_t) i * width]);
  communicate(true, width);
  for (int node = g.nlocal; node < g.nnodes; node++) {
    const int a = g.node_atom[node];
    if (a >= 0) std::copy_n(&atoms_[(size_t) a * width], width, rows + (size_t) node * width);
  }
}

void GhostExchange::reverse(double *rows, int width)
{
  const Graph &g = *graph_;
  const int nall = lmp_->atom->nlocal + lmp_->atom->nghost;
  atoms_.assign((size_t) nall * width, 0.0);
  for (int node = g.nlocal; node < g.nnodes; node++) {
    const int a = g.node_atom[node];
    double *row = rows + (size_t) node * width;
    if (a >= 0) std::copy_n(row, width, &atoms_[(size_t) a * width]);
    std::fill_n(row, width, 0.0);    // a ghost's gradient now lives with its owner
  }
  communicate(false, width);
  for (int i = 0; i < g.nlocal; i++)
    for (int k = 0; k < width; k++) rows[(size_t) i * width + k] += atoms_[(size_t) i * width + k];
}

int GhostExchange::pack_forward_comm(int n, int *list, double *buf)
{
  for (int i = 0; i < n; i++) std::copy_n(&atoms_[(size_t) list[i] * width_], width_, buf + (size_t) i * width_);
  return n * width_;
}

void GhostExchange::unpack_forward_comm(int n, int first, double *buf)
{
  std::copy_n(buf, (size_t) n * width_, &atoms_[(size_t) first * width_]);
}

int GhostExchange::pack_reverse_comm(int n, int first, double *buf)
{
  std::copy_n(&atoms_[(size_t) first * width_], (size_t) n * width_, buf);
  return n * width_;
}

void GhostExchange::unpack_reverse_comm(int n, int *list, double *buf)
{
  for (int i = 0; i < n; i++)
    for (int k = 0; k < width_; k++) atoms_[(size_t) list[i] * width_ + k] += buf[(size_t) i * width_ + k];
}

bool threads_bound_to_cores()
{
  // looked up at run time: the OpenMP runtimes are LAMMPS's and torch's, not linked here
  using bind_fn = int (*)();
  auto proc_bind = (bind_fn) dlsym(RTLD_DEFAULT, "omp_get_proc_bind");
  return proc_bind && proc_bind() != 0;    // 0: omp_proc_bind_false
}

int concurrent_lanes(LAMMPS_NS::LAMMPS *lmp, int n, bool gpu, const char *style, bool &told)
{
  const int nthreads = lmp->comm->nthreads;
  if (lmp->comm->nprocs > 1 || gpu || nthreads < 2 || n < 2) return 1;
  if (threads_bound_to_cores()) {
    if (!told)
      LAMMPS_NS::utils::logmesg(lmp, "{}: OMP_PROC_BIND binds the threads to cores, which would put "
                                     "all members on one core: evaluating them one after another "
                                     "(unset OMP_PROC_BIND to evaluate {} at a time)\n", style, nthreads);
    told = true;
    return 1;
  }
  const int lanes = std::min(nthreads, n);
  if (!told)
    LAMMPS_NS::utils::logmesg(lmp, "{}: {} members evaluated {} at a time, one thread each{}\n", style, n,
                              lanes, models_side_by_side(n, lanes) < n ? ", the last one alone on all threads" : "");
  told = true;
  return lanes;
}

void evaluate_concurrently(LAMMPS_NS::LAMMPS *lmp, GhostExchange &sequential,
                           const std::vector<Evaluation> &evaluations, int threads, std::vector<Result> &out)
{
  const int n = (int) evaluations.size();
  out.resize(n);
  auto run = [&](GhostExchange &exchange, int i) {
    const Evaluation &e = evaluations[i];
    exchange.evaluate(*e.model, e.member, *e.graph, out[i]);
  };
  const int lanes = std::min(threads, n);
  if (lanes <= 1 || lmp->comm->nprocs > 1) {
    for (int i = 0; i < n; i++) run(sequential, i);
    return;
  }
  const int side_by_side = models_side_by_side(n, lanes);
  // lane t runs evaluations t, t + lanes, ...; on one rank the exchange never calls
  // the style's comm hooks, so each lane has an exchange of its own
  std::vector<std::exception_ptr> failed(lanes);
  std::vector<std::thread> workers;
  for (int t = 0; t < lanes; t++)
    workers.emplace_back([&, t] {
      try {
        set_threads(1);
        GhostExchange exchange(lmp, nullptr, false);
        for (int i = t; i < side_by_side; i += lanes) run(exchange, i);
      } catch (...) {
        failed[t] = std::current_exception();
      }
    });
  for (auto &w : workers) w.join();
  for (auto &e : failed)
    if (e) std::rethrow_exception(e);
  for (int i = side_by_side; i < n; i++) run(sequential, i);
}

// --- the torch ops (schemas match python/ennp/deploy/ghost_exchange.py)

static at::Tensor run_exchange(const at::Tensor &x, bool forward)
{
  if (!active)
    throw std::runtime_error("ennp::ghost_exchange called outside a LAMMPS ennp style");
  const int64_t n = x.size(0);
  auto rows = x.detach().to(torch::kCPU, torch::kFloat64).contiguous().view({n, -1}).clone();
  const int width = (int) rows.size(1);
  forward ? active->forward(rows.data_ptr<double>(), width) : active->reverse(rows.data_ptr<double>(), width);
  return rows.view(x.sizes()).to(x.device(), x.scalar_type());
}

static at::Tensor ghost_exchange(const at::Tensor &x)
{
  return run_exchange(x, true);
}

static at::Tensor ghost_exchange_reverse(const at::Tensor &grad)
{
  return run_exchange(grad, false);
}

TORCH_LIBRARY(ennp, m)
{
  m.def("ghost_exchange(Tensor x) -> Tensor");
  m.def("ghost_exchange_reverse(Tensor grad) -> Tensor");
}

TORCH_LIBRARY_IMPL(ennp, CPU, m)
{
  m.impl("ghost_exchange", ghost_exchange);
  m.impl("ghost_exchange_reverse", ghost_exchange_reverse);
}

TORCH_LIBRARY_IMPL(ennp, CUDA, m)
{
  m.impl("ghost_exchange", ghost_exchange);
  m.impl("ghost_exchange_reverse", ghost_exchange_reverse);
}

}    // namespace ennp
