/* A deployed NequIP model as the plugin sees it: file loading and checks,
   metadata, and one evaluation on a Graph. Shared by pair_style ennp and
   compute ennp/ensemble.

   Two file kinds are supported:
   - AOTInductor packages (.nequip.pt2) written by `ennp deploy` (energy of
     local atoms only: exact on any number of MPI ranks) or by
     `nequip-compile --target pair_nequip` (exact on one rank only);
   - TorchScript files (.nequip.pth) deployed under torch < 2.10. */

#ifndef ENNP_MODEL_H
#define ENNP_MODEL_H

#include "ennp_graph.h"

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace torch::inductor {
class AOTIModelPackageLoader;
}
namespace torch::jit {
struct Module;
}

namespace ennp {

// Thrown for anything wrong with a model file or its output; callers turn it
// into a LAMMPS error with the message.
struct ModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Result {
  std::vector<double> atomic_energy;    // nlocal: energies of the local atoms
  std::vector<double> forces;           // 3 x nnodes: -dE_local/dpos of every node
  double virial[6] = {0};               // xx yy zz xy xz yz of E_local (LAMMPS order)
  double energy = 0.0;                  // sum of atomic_energy
};

class Model {
 public:
  // device_index: GPU to use when the model was deployed for CUDA
  Model(const std::string &path, int device_index);
  ~Model();

  const std::string &path() const { return path_; }
  // the file's canonical path: the same file however the input spells it
  const std::string &file_id() const { return file_id_; }
  const std::vector<std::string> &type_names() const { return type_names_; }
  double r_max() const { return r_max_; }
  // cutoff for a pair of model types (per_edge_type_cutoff when the model has one)
  double cutoff(int a, int b) const { return cutoff_[a * type_names_.size() + b]; }
  // cutoff^2 of every model type pair, row-major (centre type, neighbour type)
  std::vector<double> cutoff_sq_table() const;
  int num_layers() const { return num_layers_; }    // 0 when the file does not say
  bool local_energy() const { return local_energy_; }    // exact with foreign ghosts
  // > 0: the model exchanges ghost features between layers (ennp::ghost_exchange)
  // with this many values per atom, so ghosts need to reach one cutoff only
  int exchange_width() const { return exchange_width_; }
  // members of the file: > 1 for an ensemble package (ennp deploy --ensemble), which
  // holds each member as a model of its own ("model" is member 0, then "member1", ...)
  int members() const { return members_; }
  bool on_gpu() const { return cuda_; }
  std::string describe() const;
  // Smallest distance (A) of a pair of model types in the training data (ennp deploy
  // --data); 0 where the model has no record of that pair
  double domain_min(int a, int b) const { return domain_min_.empty() ? 0.0 : domain_min_[a * type_names_.size() + b]; }
  bool has_domain() const { return !domain_min_.empty(); }

  // Evaluate member k (0 <= k < members()) on g. Throws ModelError for NaN/Inf
  // outputs. Several members may run at once on separate threads.
  void compute(const Graph &g, int member, Result &out);

  // Type index of an element name, -1 if the model does not know it.
  int type_index(const std::string &name) const;

 private:
  void load_aoti(const std::map<std::string, std::string> &meta, int device_index);
  void load_torchscript(int device_index);
  void read_common_metadata(const std::map<std::string, std::string> &meta);
  void read_domain(const std::string &record);
  void check_member(const std::string &name) const;
  static std::string member_model_name(int k);

  std::string path_, file_id_, kind_, device_name_, dtype_;
  std::vector<std::string> type_names_;
  std::vector<double> cutoff_;
  std::vector<double> domain_min_;    // type pair -> training minimum distance, empty: no record
  double r_max_ = 0.0;
  int num_layers_ = 0;
  int exchange_width_ = 0;
  int members_ = 1;
  bool local_energy_ = false;
  bool cuda_ = false;
  int device_index_ = -1;
  std::vector<std::unique_ptr<torch::inductor::AOTIModelPackageLoader>> aoti_;    // per member
  std::unique_ptr<torch::jit::Module> script_;
};

// Threads torch uses for intra-op parallelism in this process.
void set_threads(int nthreads);

// Index of this process among the MPI ranks on its node (for GPU selection).
int local_rank_index(void *world_comm);

}    // namespace ennp

#endif
