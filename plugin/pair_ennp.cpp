#include "pair_ennp.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;

PairENNP::PairENNP(LAMMPS *lmp) : Pair(lmp), exchange_(lmp, this, true)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  // the model returns the virial of the local energy: summing it over ranks
  // is exact, while f.r over ghosts would miss the periodic-image edges
  no_virial_fdotr_compute = 1;
  centroidstressflag = CENTROID_NOTAVAIL;
}

PairENNP::~PairENNP()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairENNP::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
}

// pair_style ennp MODEL [num_layers N] [min_dist D|auto] [domain_tol F] [drive first|mean]
void PairENNP::settings(int narg, char **arg)
{
  if (narg < 1) error->all(FLERR, "Illegal pair_style ennp command: expected pair_style ennp MODEL_FILE");
  int iarg = 1;
  int layers_override = 0;
  min_dist_auto_ = false;
  drive_mean_ = false;
  while (iarg < narg) {
    const bool known = strcmp(arg[iarg], "num_layers") == 0 || strcmp(arg[iarg], "min_dist") == 0 ||
        strcmp(arg[iarg], "domain_tol") == 0 || strcmp(arg[iarg], "drive") == 0;
    if (!known)
      error->all(FLERR, "pair_style ennp: unknown keyword '{}' (known: num_layers N, min_dist D|auto, "
                        "domain_tol F, drive first|mean)", arg[iarg]);
    if (iarg + 1 >= narg)
      error->all(FLERR, "pair_style ennp: keyword {} is missing its value", arg[iarg]);
    if (strcmp(arg[iarg], "num_layers") == 0) {
      layers_override = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (layers_override < 1) error->all(FLERR, "pair_style ennp: num_layers must be >= 1");
    } else if (strcmp(arg[iarg], "domain_tol") == 0) {
      domain_tol_ = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!(domain_tol_ >= 0.0 && domain_tol_ < 1.0))
        error->all(FLERR, "pair_style ennp: domain_tol must be in [0, 1), got {}", arg[iarg + 1]);
    } else if (strcmp(arg[iarg], "drive") == 0) {
      if (strcmp(arg[iarg + 1], "first") != 0 && strcmp(arg[iarg + 1], "mean") != 0)
        error->all(FLERR, "pair_style ennp: drive must be 'first' or 'mean', got '{}'", arg[iarg + 1]);
      drive_mean_ = strcmp(arg[iarg + 1], "mean") == 0;
    } else if (strcmp(arg[iarg + 1], "auto") == 0) {
      min_dist_auto_ = true;
    } else {
      min_dist_ = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!std::isfinite(min_dist_) || min_dist_ < 0.0)
        error->all(FLERR, "pair_style ennp: min_dist must be a distance >= 0 (A), got {}", arg[iarg + 1]);
    }
    iarg += 2;
  }
  try {
    model_ = std::make_unique<ennp::Model>(arg[0], ennp::local_rank_index(&world));
  } catch (const std::exception &e) {
    error->all(FLERR, "pair_style ennp: {}", e.what());
  }
  num_layers_ = layers_override ? layers_override : model_->num_layers();
  if (drive_mean_ && model_->members() < 2)
    error->all(FLERR, "pair_style ennp: 'drive mean' needs an ensemble package (ennp deploy "
                      "--ensemble); '{}' holds one model", arg[0]);
  if (min_dist_auto_ && !model_->has_domain())
    error->all(FLERR, "pair_style ennp: 'min_dist auto' needs a model that records its training "
                      "domain; '{}' does not (deploy it with `ennp deploy ... --data TRAIN.extxyz`)",
               arg[0]);
  if (comm->me == 0) utils::logmesg(lmp, "ennp: {}\n", model_->describe());
}

// pair_coeff * * El1 El2 ... (one element of the model per LAMMPS atom type)
void PairENNP::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg != 2 + ntypes)
    error->all(FLERR,
               "pair_coeff for ennp: expected '* *' and {} element names (one per atom type), "
               "got {} names",
               ntypes, narg - 2);
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for ennp must start with '* *'");

  elements_.assign(ntypes + 1, "");
  type_map_.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; t++) {
    const std::string name = arg[1 + t];
    const int idx = model_->type_index(name);
    if (idx < 0) {
      std::string known;
      for (const auto &n : model_->type_names()) known += " " + n;
      error->all(FLERR, "pair_coeff for ennp: element '{}' (atom type {}) is not in the model; it knows:{}",
                 name, t, known);
    }
    elements_[t] = name;
    type_map_[t] = idx;
  }
  cutsq_model_ = model_->cutoff_sq_table();
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;
}

void PairENNP::init_style()
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style ennp requires 'units metal' (eV, Angstrom), not '{}'",
               update->unit_style);
  if (!atom->tag_enable) error->all(FLERR, "pair_style ennp requires atom IDs");
  if (force->newton_pair == 0) error->all(FLERR, "pair_style ennp requires newton pair on");
  if (!model_) error->all(FLERR, "pair_style ennp: no model loaded");
  domain_warned_ = false;    // once per run

  if (comm->nprocs > 1 && !model_->local_energy())
    error->all(FLERR,
               "pair_style ennp: '{}' differentiates the energy of all atoms (nequip-compile "
               "--target pair_nequip) and is exact on 1 MPI rank only; deploy it with "
               "`ennp deploy` to run on {} ranks",
               model_->path(), comm->nprocs);
  if (comm->nprocs > 1 && num_layers_ < 1)
    error->all(FLERR,
               "pair_style ennp: '{}' does not say how many message-passing layers it has; "
               "add 'num_layers N' to pair_style for MPI runs",
               model_->path());

  // torch threads follow LAMMPS's OpenMP threads per rank (OMP_NUM_THREADS, -pk omp N)
  ennp::set_threads(comm->nthreads);

  // Models from `ennp deploy` exchange ghost features between layers: ghosts
  // need to reach one cutoff, the default. Others (TorchScript) replicate the
  // work: ghost atoms must reach num_layers * r_max, since a local atom's energy
  // depends on atoms that many hops away. On one rank every ghost is an image of
  // a local atom and is mapped back to it, so r_max suffices there.
  comm_forward = comm_reverse = model_->exchange_width();
  graph_layers_ = model_->exchange_width() > 0 ? 1 : std::max(num_layers_, 1);
  // full neighbour lists; ghost atoms need lists of their own only when edges
  // are centred on them, i.e. when the work on ghosts is replicated
  neighbor->add_request(this, graph_layers_ > 1 ? NeighConst::REQ_FULL | NeighConst::REQ_GHOST
                                                : NeighConst::REQ_FULL);
  if (comm->nprocs > 1 && model_->exchange_width() == 0) {
    const double cut = num_layers_ * model_->r_max() + neighbor->skin;
    if (comm->cutghostuser < cut) {
      comm->cutghostuser = cut;
      if (comm->me == 0)
        utils::logmesg(lmp, "ennp: ghost cutoff set to {:.4} A ({} layers x r_max + skin)\n", cut,
                       num_layers_);
    }
  }
}

double PairENNP::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "pair_coeff for ennp has not been set");
  const int a = type_map_[i], b = type_map_[j];
  return std::max(model_->cutoff(a, b), model_->cutoff(b, a));
}

void PairENNP::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (vflag_atom)
    error->all(FLERR, "pair_style ennp does not compute per-atom virials (compute stress/atom, "
                      "centroid/stress/atom); only the global virial is available");
  const int nlocal = atom->nlocal;
  evaluated_ = false;
  // nothing owned here: no energy, no force; but a model that exchanges ghost
  // features must still run, since every rank takes part in each exchange
  if (nlocal == 0 && model_->exchange_width() == 0) return;

  builder_.build(lmp, list, type_map_, cutsq_model_, (int) model_->type_names().size(),
                 graph_layers_, graph_);
  if (!model_->local_energy() && builder_.has_foreign_ghosts(graph_))
    error->one(FLERR, "pair_style ennp: model is exact on 1 MPI rank only (see init)");
  if (graph_.nedges() > 0 && graph_.min_dist < min_dist_)
    error->one(FLERR,
               "pair_style ennp: two atoms are {:.4} A apart at step {}, closer than min_dist "
               "{} A: the structure has collapsed or overlapping atoms",
               graph_.min_dist, update->ntimestep, min_dist_);
  if (model_->has_domain() && (min_dist_auto_ || !domain_warned_)) check_domain();
  // an ensemble package drives with member 0 (evaluated alone) or with the members' mean
  // (all members, several at a time on one rank with threads)
  std::vector<ennp::Evaluation> todo;
  for (int k = 0; k < (drive_mean_ ? model_->members() : 1); k++) todo.push_back({model_.get(), k, &graph_});
  const int threads = ennp::concurrent_lanes(lmp, (int) todo.size(), model_->on_gpu(), "pair_style ennp", told_threads_);
  try {
    ennp::evaluate_concurrently(lmp, exchange_, todo, threads, results_);
  } catch (const std::exception &e) {
    error->one(FLERR, "pair_style ennp at step {}: {}", update->ntimestep, e.what());
  }
  evaluated_ = true;
  const ennp::Result *drive = &results_[0];
  if (drive_mean_) {
    const double K = (double) results_.size();
    mean_ = results_[0];
    for (size_t k = 1; k < results_.size(); k++) {
      const ennp::Result &r = results_[k];
      for (size_t c = 0; c < mean_.forces.size(); c++) mean_.forces[c] += r.forces[c];
      for (size_t c = 0; c < mean_.atomic_energy.size(); c++) mean_.atomic_energy[c] += r.atomic_energy[c];
      for (int c = 0; c < 6; c++) mean_.virial[c] += r.virial[c];
      mean_.energy += r.energy;
    }
    for (double &v : mean_.forces) v /= K;
    for (double &v : mean_.atomic_energy) v /= K;
    for (double &v : mean_.virial) v /= K;
    mean_.energy /= K;
    drive = &mean_;
  }

  double **f = atom->f;
  for (int node = 0; node < graph_.nnodes; node++) {
    const int i = graph_.node_atom[node];
    if (i < 0) continue;
    for (int k = 0; k < 3; k++) f[i][k] += drive->forces[3 * node + k];
  }
  if (eflag_global) eng_vdwl += drive->energy;
  if (eflag_atom)
    for (int i = 0; i < nlocal; i++) eatom[i] += drive->atomic_energy[i];
  if (vflag_global)
    for (int k = 0; k < 6; k++) virial[k] += drive->virial[k];
}

const std::vector<ennp::Result> *PairENNP::results_for(const std::string &file_id, const std::vector<int> &type_map,
                                                       const ennp::Graph **graph) const
{
  if (!evaluated_ || !model_ || model_->file_id() != file_id || type_map != type_map_) return nullptr;
  // the same positions: this step's force evaluation (not a trial point of a minimiser)
  double **x = atom->x;
  if (graph_.nlocal != atom->nlocal) return nullptr;
  for (int node = 0; node < graph_.nnodes; node++) {
    const int i = graph_.node_atom[node];
    if (i < 0) continue;
    if (i >= atom->nlocal + atom->nghost) return nullptr;
    for (int k = 0; k < 3; k++)
      if (graph_.pos[3 * node + k] != x[i][k]) return nullptr;
  }
  *graph = &graph_;
  return &results_;
}

// The closest pair, relative to its training minimum, of the edges centred on
// local atoms; outside the domain it stops the run ('min_dist auto') or is
// named once per run, by rank 0 whichever rank found it.
void PairENNP::check_domain()
{
  double worst = INFINITY;
  int wi = -1, wj = -1;
  double wr = 0.0;
  const int64_t ne = graph_.nedges();
  const double *cell = graph_.cell;
  for (int64_t e = 0; e < ne; e++) {
    const int i = (int) graph_.edges[e], j = (int) graph_.edges[ne + e];
    if (i >= graph_.nlocal) continue;
    const double dmin = model_->domain_min((int) graph_.types[i], (int) graph_.types[j]);
    if (dmin <= 0.0) continue;
    const double *s = &graph_.shifts[3 * e];
    double r2 = 0.0;
    for (int k = 0; k < 3; k++) {
      const double d = graph_.pos[3 * j + k] + s[0] * cell[k] + s[1] * cell[3 + k] + s[2] * cell[6 + k] -
          graph_.pos[3 * i + k];
      r2 += d * d;
    }
    const double ratio = std::sqrt(r2) / dmin;
    if (ratio < worst) {
      worst = ratio;
      wi = i;
      wj = j;
      wr = std::sqrt(r2);
    }
  }
  const bool outside = worst < 1.0 - domain_tol_;
  auto describe = [&]() {
    const auto &names = model_->type_names();
    const std::string a = names[graph_.types[wi]], b = names[graph_.types[wj]];
    return fmt::format("atoms {} ({}) and {} ({}) are {:.4g} A apart at step {}, closer than {:.0f}% "
                       "of the smallest {}-{} distance in the model's training data ({:.4g} A): the "
                       "model is outside its training domain",
                       (long) atom->tag[graph_.node_atom[wi]], a, (long) atom->tag[graph_.node_atom[wj]], b, wr,
                       update->ntimestep, 100.0 * (1.0 - domain_tol_), a, b,
                       model_->domain_min((int) graph_.types[wi], (int) graph_.types[wj]));
  };
  if (min_dist_auto_) {
    if (outside) error->one(FLERR, "pair_style ennp: {} (min_dist auto)", describe());
    return;
  }
  struct {
    double ratio;
    int rank;
  } mine = {outside ? worst : INFINITY, comm->me}, first;
  MPI_Allreduce(&mine, &first, 1, MPI_DOUBLE_INT, MPI_MINLOC, world);
  if (!(first.ratio < 1.0 - domain_tol_)) return;
  domain_warned_ = true;
  std::string message = comm->me == first.rank ? describe() : std::string();
  int length = (int) message.size();
  MPI_Bcast(&length, 1, MPI_INT, first.rank, world);
  message.resize(length);
  MPI_Bcast(message.data(), length, MPI_CHAR, first.rank, world);
  if (comm->me == 0)
    error->warning(FLERR, "pair_style ennp: {} (warned once per run; 'min_dist auto' makes it an error)",
                   message);
}

// LAMMPS communication of ghost features: handled by the shared exchange
int PairENNP::pack_forward_comm(int n, int *list, double *buf, int, int *)
{
  return exchange_.pack_forward_comm(n, list, buf);
}

void PairENNP::unpack_forward_comm(int n, int first, double *buf)
{
  exchange_.unpack_forward_comm(n, first, buf);
}

int PairENNP::pack_reverse_comm(int n, int first, double *buf)
{
  return exchange_.pack_reverse_comm(n, first, buf);
}

void PairENNP::unpack_reverse_comm(int n, int *list, double *buf)
{
  exchange_.unpack_reverse_comm(n, list, buf);
}
