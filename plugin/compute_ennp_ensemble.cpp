#include "compute_ennp_ensemble.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "pair_ennp.h"
#include "update.h"
#include "utils.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

using namespace LAMMPS_NS;

enum { MAX_F, MIN_F, AVG_F, DEVI_E, MAX_V, MIN_V, AVG_V, EVALUATIONS, NVECTOR };

// Population standard deviation of K values spaced by stride (members are the
// samples, as in DeePMD-kit's np.std over models).
static double std_over_members(const double *x, int K, int stride = 1)
{
  double mean = 0.0, var = 0.0;
  for (int k = 0; k < K; k++) mean += x[k * stride] / K;
  for (int k = 0; k < K; k++) var += (x[k * stride] - mean) * (x[k * stride] - mean) / K;
  return std::sqrt(var);
}

static bool is_keyword(const char *s)
{
  return !strcmp(s, "elements") || !strcmp(s, "file") || !strcmp(s, "relative") || !strcmp(s, "halt");
}

// compute ID group ennp/ensemble MODEL1 MODEL2 [...] [elements El ...] [file FILE] [relative L]
//   [halt H]; a model file may be an ensemble package (several members in one call)
ComputeENNPEnsemble::ComputeENNPEnsemble(LAMMPS *lmp, int narg, char **arg) :
    Compute(lmp, narg, arg), exchange_(lmp, this, false)
{
  vector_flag = 1;
  size_vector = NVECTOR;
  extvector = 0;
  peratom_flag = 1;
  size_peratom_cols = 2;

  std::vector<std::string> paths;
  int iarg = 3;
  while (iarg < narg && !is_keyword(arg[iarg])) paths.emplace_back(arg[iarg++]);
  while (iarg < narg) {
    if (!strcmp(arg[iarg], "elements")) {
      iarg++;
      while (iarg < narg && !is_keyword(arg[iarg])) elements_.emplace_back(arg[iarg++]);
      if (elements_.empty()) error->all(FLERR, "compute ennp/ensemble: 'elements' needs element names");
    } else if (!strcmp(arg[iarg], "file")) {
      if (iarg + 1 >= narg) error->all(FLERR, "compute ennp/ensemble: 'file' needs a file name");
      file_ = arg[iarg + 1];
      iarg += 2;
    } else if (!strcmp(arg[iarg], "halt")) {
      if (iarg + 1 >= narg) error->all(FLERR, "compute ennp/ensemble: 'halt' needs a value (eV/A)");
      halt_ = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (halt_ <= 0.0) error->all(FLERR, "compute ennp/ensemble: 'halt' must be > 0");
      iarg += 2;
    } else {    // relative
      if (iarg + 1 >= narg) error->all(FLERR, "compute ennp/ensemble: 'relative' needs a value (eV/A)");
      relative_ = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (relative_ <= 0.0) error->all(FLERR, "compute ennp/ensemble: 'relative' must be > 0");
      iarg += 2;
    }
  }
  if (paths.empty())
    error->all(FLERR, "compute ennp/ensemble needs at least two models (files, or one ensemble "
                      "package from ennp deploy --ensemble), got none");

  const int local_rank = ennp::local_rank_index(&world);
  for (const auto &path : paths) {
    try {
      models_.push_back(std::make_unique<ennp::Model>(path, local_rank));
    } catch (const std::exception &e) {
      error->all(FLERR, "compute ennp/ensemble: {}", e.what());
    }
  }
  for (const auto &m : models_) {
    first_member_.push_back(members_);
    members_ += m->members();
  }
  if (members_ < 2)
    error->all(FLERR, "compute ennp/ensemble needs at least two models (files, or one ensemble "
                      "package from ennp deploy --ensemble); '{}' holds one", paths[0]);
  auto names = [](const ennp::Model &m) {
    std::string s;
    for (const auto &t : m.type_names()) s += " " + t;
    return s;
  };
  for (size_t k = 1; k < models_.size(); k++)
    if (models_[k]->type_names() != models_[0]->type_names())
      error->all(FLERR,
                 "compute ennp/ensemble: members must have the same type names; '{}' has{} "
                 "but '{}' has{}",
                 models_[0]->path(), names(*models_[0]), models_[k]->path(), names(*models_[k]));

  vector = new double[NVECTOR]();
  if (!file_.empty() && comm->me == 0) open_model_devi();
}

// A run that continues from a restart (or starts again) in the same folder finds
// the file of the earlier run, which may reach past the step it restarts from
// (a kill after the last checkpoint). Keep the lines up to the current step,
// drop later ones (they will be computed again) and never write a step twice:
// every step appears once, however often the run was resumed.
void ComputeENNPEnsemble::open_model_devi()
{
  const bigint now = update->ntimestep;
  std::ifstream in(file_);
  if (in) {
    std::ostringstream kept;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      long long step;
      if (!(fields >> step))
        error->one(FLERR, "compute ennp/ensemble: file '{}' is no model_devi file (line '{}')",
                   file_, line);
      if (step > now) continue;
      kept << line << '\n';
      written_until_ = std::max(written_until_, (bigint) step);
    }
    in.close();
    const std::string tmp = file_ + ".tmp";
    FILE *out = fopen(tmp.c_str(), "w");
    if (!out) error->one(FLERR, "compute ennp/ensemble: cannot write '{}': {}", tmp, utils::getsyserror());
    fprintf(out, "#%13s%19s%19s%19s%19s%19s%19s%19s\n", "step", "max_devi_v", "min_devi_v",
            "avg_devi_v", "max_devi_f", "min_devi_f", "avg_devi_f", "devi_e");
    fputs(kept.str().c_str(), out);
    fclose(out);
    if (std::rename(tmp.c_str(), file_.c_str()) != 0)    // the earlier lines are never half-rewritten
      error->one(FLERR, "compute ennp/ensemble: cannot replace '{}': {}", file_, utils::getsyserror());
  }
  fp_ = fopen(file_.c_str(), "a");
  if (!fp_) error->one(FLERR, "compute ennp/ensemble: cannot open file '{}': {}", file_, utils::getsyserror());
  if (ftell(fp_) == 0)    // DeePMD-kit / DP-GEN model_devi.out layout
    fprintf(fp_, "#%13s%19s%19s%19s%19s%19s%19s%19s\n", "step", "max_devi_v", "min_devi_v",
            "avg_devi_v", "max_devi_f", "min_devi_f", "avg_devi_f", "devi_e");
}

ComputeENNPEnsemble::~ComputeENNPEnsemble()
{
  delete[] vector;
  memory->destroy(array_);
  if (fp_) fclose(fp_);
}

void ComputeENNPEnsemble::init()
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "compute ennp/ensemble requires 'units metal', not '{}'", update->unit_style);
  if (!atom->tag_enable) error->all(FLERR, "compute ennp/ensemble requires atom IDs");

  // element of each LAMMPS type: the 'elements' keyword, else pair_style ennp's pair_coeff
  const int ntypes = atom->ntypes;
  std::vector<std::string> elements(ntypes + 1);
  if (!elements_.empty()) {
    if ((int) elements_.size() != ntypes)
      error->all(FLERR, "compute ennp/ensemble: 'elements' lists {} names for {} atom types",
                 elements_.size(), ntypes);
    std::copy(elements_.begin(), elements_.end(), elements.begin() + 1);
  } else {
    auto *pair = dynamic_cast<PairENNP *>(force->pair_match("^ennp", 0));
    if (!pair || (int) pair->elements().size() != ntypes + 1)
      error->all(FLERR, "compute ennp/ensemble: with a pair style other than ennp, give "
                        "'elements El1 El2 ...' (one element per atom type)");
    elements = pair->elements();
  }
  type_map_.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; t++) {
    type_map_[t] = models_[0]->type_index(elements[t]);
    if (type_map_[t] < 0)
      error->all(FLERR, "compute ennp/ensemble: element '{}' (atom type {}) is not in the models",
                 elements[t], t);
  }

  // members with identical cutoffs share one graph
  cutsq_.clear();
  graph_of_model_.clear();
  double rmax = 0.0;
  int width = 0;
  for (auto &m : models_) {
    const std::vector<double> table = m->cutoff_sq_table();
    auto it = std::find(cutsq_.begin(), cutsq_.end(), table);
    graph_of_model_.push_back((int) (it - cutsq_.begin()));
    if (it == cutsq_.end()) cutsq_.push_back(table);
    rmax = std::max(rmax, m->r_max());
    width = std::max(width, m->exchange_width());
    if (comm->nprocs > 1 && m->exchange_width() == 0)
      error->all(FLERR, "compute ennp/ensemble on several MPI ranks needs models from `ennp "
                        "deploy`; '{}' is not one", m->path());
  }
  graphs_.resize(cutsq_.size());
  rmax_ = rmax;
  const int K = members_;
  comm_forward = width;
  comm_reverse = std::max(width, 3 * K);
  neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_OCCASIONAL);
}

void ComputeENNPEnsemble::init_list(int, NeighList *ptr)
{
  list_ = ptr;
}

void ComputeENNPEnsemble::evaluate()
{
  if (evaluated_step_ == update->ntimestep) return;    // vector and per-atom share one evaluation
  evaluated_step_ = update->ntimestep;
  evaluations_++;

  const int K = members_;
  const int nlocal = atom->nlocal, nall = nlocal + atom->nghost;
  const int nt = (int) models_[0]->type_names().size();
  // (checked here: the neighbour cutoff is not known yet when computes are initialised)
  if (rmax_ > neighbor->cutneighmax)
    error->all(FLERR, "compute ennp/ensemble: the models' cutoff {} A exceeds the neighbour list "
                      "cutoff {} A (pair cutoff + skin); increase the neighbor skin",
               rmax_, neighbor->cutneighmax);

  // members of a model file that pair_style ennp has just evaluated at these positions
  // are not evaluated again; every rank must agree, since evaluations exchange ghost
  // features (not as a sub-style of pair hybrid: its neighbour list may lack some type pairs)
  auto *pair = dynamic_cast<PairENNP *>(force->pair);
  const int nmodels = (int) models_.size();
  std::vector<const std::vector<ennp::Result> *> from_pair(nmodels, nullptr);
  std::vector<const ennp::Graph *> pair_graph(nmodels, nullptr);
  std::vector<int> mine(nmodels, 0), taken(nmodels, 0);    // members taken from the pair
  for (int m = 0; m < nmodels && pair; m++) {
    from_pair[m] = pair->results_for(models_[m]->file_id(), type_map_, &pair_graph[m]);
    mine[m] = from_pair[m] ? (int) std::min(from_pair[m]->size(), (size_t) models_[m]->members()) : 0;
  }
  MPI_Allreduce(mine.data(), taken.data(), nmodels, MPI_INT, MPI_MIN, world);
  bool build = false;
  for (int m = 0; m < nmodels; m++) build = build || taken[m] < models_[m]->members();
  if (build) {
    neighbor->build_one(list_);
    for (size_t g = 0; g < graphs_.size(); g++)
      builder_.build(lmp, list_, type_map_, cutsq_[g], nt, 1, graphs_[g]);
  }

  // the members not taken from the pair, several at a time on one rank with threads
  std::vector<ennp::Evaluation> todo;
  std::vector<int> slot(K, -1);    // member -> its evaluation here
  bool gpu = false;
  for (int m = 0; m < nmodels; m++) {
    if (nlocal == 0 && models_[m]->exchange_width() == 0) continue;
    for (int j = taken[m]; j < models_[m]->members(); j++) {
      slot[first_member_[m] + j] = (int) todo.size();
      todo.push_back({models_[m].get(), j, &graphs_[graph_of_model_[m]]});
      gpu = gpu || models_[m]->on_gpu();
    }
  }
  const int threads = ennp::concurrent_lanes(lmp, (int) todo.size(), gpu, "compute ennp/ensemble", told_threads_);
  try {
    ennp::evaluate_concurrently(lmp, exchange_, todo, threads, results_);
  } catch (const std::exception &e) {
    error->one(FLERR, "compute ennp/ensemble at step {}: {}", update->ntimestep, e.what());
  }

  forces_.assign((size_t) nall * 3 * K, 0.0);
  energies_.assign((size_t) nlocal * K, 0.0);
  std::vector<double> sums(7 * K, 0.0);    // per member: energy, virial (6)
  for (int m = 0; m < nmodels; m++) {
    if (taken[m] && !told_reuse_ && comm->me == 0)
      utils::logmesg(lmp, "compute ennp/ensemble: {} of '{}' taken from pair_style ennp's evaluation "
                          "of the same positions, not evaluated again\n",
                     taken[m] == 1 ? std::string("member 0") : fmt::format("members 0-{}", taken[m] - 1),
                     models_[m]->path());
    told_reuse_ = told_reuse_ || taken[m];
    for (int j = 0; j < models_[m]->members(); j++) {
      const int k = first_member_[m] + j;
      const ennp::Result *r = nullptr;
      const ennp::Graph *g = nullptr;
      if (j < taken[m]) {
        r = &(*from_pair[m])[j];
        g = pair_graph[m];
      } else if (slot[k] >= 0) {
        r = &results_[slot[k]];
        g = &graphs_[graph_of_model_[m]];
      } else {
        continue;    // nothing owned here
      }
      for (int node = 0; node < g->nnodes; node++) {
        const int a = g->node_atom[node];
        if (a < 0) continue;
        for (int d = 0; d < 3; d++) forces_[(size_t) a * 3 * K + 3 * k + d] += r->forces[3 * node + d];
      }
      for (int i = 0; i < nlocal; i++) energies_[(size_t) i * K + k] = r->atomic_energy[i];
      sums[7 * k] = r->energy;
      for (int c = 0; c < 6; c++) sums[7 * k + 1 + c] = r->virial[c];
    }
  }
  // forces on ghost atoms belong to their owners
  comm_forces_ = true;
  comm->reverse_comm(this, 3 * K);
  comm_forces_ = false;

  // --- per-atom deviations
  if (atom->nmax > nmax_) {
    memory->destroy(array_);
    nmax_ = atom->nmax;
    memory->create(array_, nmax_, 2, "ennp/ensemble:array");
    array_atom = array_;
  }
  double fmax = 0.0, fmin = INFINITY, fsum = 0.0, count = 0.0;
  const int *mask = atom->mask;
  for (int i = 0; i < nlocal; i++) {
    const double *f = &forces_[(size_t) i * 3 * K];
    double mean[3] = {0, 0, 0}, var = 0.0;
    for (int k = 0; k < K; k++)
      for (int d = 0; d < 3; d++) mean[d] += f[3 * k + d] / K;
    for (int k = 0; k < K; k++)
      for (int d = 0; d < 3; d++) var += (f[3 * k + d] - mean[d]) * (f[3 * k + d] - mean[d]) / K;
    double eps = std::sqrt(var);
    if (relative_ > 0.0)
      eps /= std::sqrt(mean[0] * mean[0] + mean[1] * mean[1] + mean[2] * mean[2]) + relative_;
    array_[i][0] = eps;
    array_[i][1] = std_over_members(&energies_[(size_t) i * K], K);
    if (mask[i] & groupbit) {
      fmax = std::max(fmax, eps);
      fmin = std::min(fmin, eps);
      fsum += eps;
      count += 1.0;
    }
  }

  // --- global deviations (DeePMD-kit definitions)
  double local[3] = {fsum, count, -fmin}, global[3], gmax;
  MPI_Allreduce(local, global, 2, MPI_DOUBLE, MPI_SUM, world);
  MPI_Allreduce(&local[2], &global[2], 1, MPI_DOUBLE, MPI_MAX, world);
  MPI_Allreduce(&fmax, &gmax, 1, MPI_DOUBLE, MPI_MAX, world);
  std::vector<double> total(7 * K);
  MPI_Allreduce(sums.data(), total.data(), 7 * K, MPI_DOUBLE, MPI_SUM, world);
  const double natoms = (double) atom->natoms;

  vector[MAX_F] = global[1] > 0 ? gmax : 0.0;
  vector[MIN_F] = global[1] > 0 ? -global[2] : 0.0;
  vector[AVG_F] = global[1] > 0 ? global[0] / global[1] : 0.0;
  vector[DEVI_E] = std_over_members(&total[0], K, 7) / natoms;    // std of E_k / N
  // 9 components of the symmetric virial from xx yy zz xy xz yz
  static const int full[9] = {0, 3, 4, 3, 1, 5, 4, 5, 2};
  double vmax = 0.0, vmin = INFINITY, vsq = 0.0;
  for (int c = 0; c < 9; c++) {
    const double s = std_over_members(&total[1 + full[c]], K, 7) / natoms;
    vmax = std::max(vmax, s);
    vmin = std::min(vmin, s);
    vsq += s * s;
  }
  vector[MAX_V] = vmax;
  vector[MIN_V] = vmin;
  vector[AVG_V] = std::sqrt(vsq) / 3.0;
  vector[EVALUATIONS] = (double) evaluations_;
  write_model_devi();
  if (halt_ > 0.0 && vector[MAX_F] > halt_) halt_run();
}

// Stop the run, naming the step, max_devi_f and the atoms of the largest
// deviations (the file already holds the step: it was written first).
void ComputeENNPEnsemble::halt_run()
{
  constexpr int NWORST = 10;
  const int nlocal = atom->nlocal;
  std::vector<std::pair<double, tagint>> mine;
  for (int i = 0; i < nlocal; i++)
    if (atom->mask[i] & groupbit) mine.emplace_back(array_[i][0], atom->tag[i]);
  const size_t n = std::min<size_t>(NWORST, mine.size());
  std::partial_sort(mine.begin(), mine.begin() + n, mine.end(),
                    [](const auto &a, const auto &b) { return a.first > b.first; });
  std::vector<double> send(2 * NWORST, -1.0), recv(2 * NWORST * comm->nprocs);
  for (size_t j = 0; j < n; j++) {
    send[2 * j] = mine[j].first;
    send[2 * j + 1] = (double) mine[j].second;
  }
  MPI_Allgather(send.data(), 2 * NWORST, MPI_DOUBLE, recv.data(), 2 * NWORST, MPI_DOUBLE, world);
  std::vector<std::pair<double, tagint>> all;
  for (size_t j = 0; j < recv.size(); j += 2)
    if (recv[j] >= 0.0) all.emplace_back(recv[j], (tagint) recv[j + 1]);
  const size_t m = std::min<size_t>(NWORST, all.size());
  std::partial_sort(all.begin(), all.begin() + m, all.end(),
                    [](const auto &a, const auto &b) { return a.first > b.first; });
  std::string atoms;
  for (size_t j = 0; j < m; j++) atoms += fmt::format(" {} ({:.3g})", all[j].second, all[j].first);
  if (fp_) fflush(fp_);
  error->all(FLERR,
             "compute ennp/ensemble halt: max_devi_f {:.4g} eV/A exceeds {:.4g} eV/A at step {}; "
             "largest eps_i (eV/A) at atom ids{}",
             vector[MAX_F], halt_, update->ntimestep, atoms);
}

void ComputeENNPEnsemble::write_model_devi()
{
  if (!fp_ || update->ntimestep <= written_until_) return;    // already in the file
  written_until_ = update->ntimestep;
  fprintf(fp_, "%14ld%19.6e%19.6e%19.6e%19.6e%19.6e%19.6e%19.6e\n", (long) update->ntimestep,
          vector[MAX_V], vector[MIN_V], vector[AVG_V], vector[MAX_F], vector[MIN_F], vector[AVG_F],
          vector[DEVI_E]);
  fflush(fp_);    // a killed run keeps every line written so far
}

void ComputeENNPEnsemble::compute_vector()
{
  invoked_vector = update->ntimestep;
  evaluate();
}

void ComputeENNPEnsemble::compute_peratom()
{
  invoked_peratom = update->ntimestep;
  evaluate();
  array_atom = array_;
}

int ComputeENNPEnsemble::pack_forward_comm(int n, int *list, double *buf, int, int *)
{
  return exchange_.pack_forward_comm(n, list, buf);
}

void ComputeENNPEnsemble::unpack_forward_comm(int n, int first, double *buf)
{
  exchange_.unpack_forward_comm(n, first, buf);
}

int ComputeENNPEnsemble::pack_reverse_comm(int n, int first, double *buf)
{
  if (!comm_forces_) return exchange_.pack_reverse_comm(n, first, buf);
  const int w = 3 * members_;
  std::copy_n(&forces_[(size_t) first * w], (size_t) n * w, buf);
  return n * w;
}

void ComputeENNPEnsemble::unpack_reverse_comm(int n, int *list, double *buf)
{
  if (!comm_forces_) return exchange_.unpack_reverse_comm(n, list, buf);
  const int w = 3 * members_;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < w; c++) forces_[(size_t) list[i] * w + c] += buf[(size_t) i * w + c];
}

double ComputeENNPEnsemble::memory_usage()
{
  return (double) nmax_ * 2 * sizeof(double) + (forces_.size() + energies_.size()) * sizeof(double);
}
