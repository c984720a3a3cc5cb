/* compute ennp/ensemble: model deviation of an ensemble of deployed NequIP
   models (DeePMD-kit/DP-GEN definitions), evaluated only when invoked. */

#ifndef LMP_COMPUTE_ENNP_ENSEMBLE_H
#define LMP_COMPUTE_ENNP_ENSEMBLE_H

#include "compute.h"
#include "ennp_exchange.h"
#include "ennp_graph.h"
#include "ennp_model.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace LAMMPS_NS {

class ComputeENNPEnsemble : public Compute {
 public:
  ComputeENNPEnsemble(class LAMMPS *, int, char **);
  ~ComputeENNPEnsemble() override;
  void init() override;
  void init_list(int, class NeighList *) override;
  void compute_vector() override;
  void compute_peratom() override;
  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;
  double memory_usage() override;

 private:
  void evaluate();                   // all members, once per timestep
  void write_model_devi();
  void halt_run();                   // 'halt H': max_devi_f above H stops the run

  std::vector<std::unique_ptr<ennp::Model>> models_;
  std::vector<int> first_member_;        // per model file: index of its first member
  int members_ = 0;                      // K: members of all model files
  std::vector<std::string> elements_;    // from the 'elements' keyword, else pair ennp
  std::vector<int> type_map_;            // LAMMPS type -> model type
  std::vector<std::vector<double>> cutsq_;    // per graph: model type pair -> cutoff^2
  std::vector<int> graph_of_model_;      // members with equal cutoffs share a graph
  std::vector<ennp::Graph> graphs_;
  ennp::GraphBuilder builder_;
  ennp::GhostExchange exchange_;
  std::vector<ennp::Result> results_;    // per member evaluated here (not taken from the pair)
  bool told_reuse_ = false;              // the log says once that the pair's evaluation is used
  bool told_threads_ = false;            // ... and how many members run at a time
  class NeighList *list_ = nullptr;

  bigint evaluated_step_ = -1;
  bigint evaluations_ = 0;
  double rmax_ = 0.0;                    // largest member cutoff
  double relative_ = -1.0;               // 'relative L': eps_i / (|<F_i>| + L)
  double halt_ = -1.0;                   // 'halt H' (eV/A); off below 0
  std::string file_;
  FILE *fp_ = nullptr;
  bigint written_until_ = -1;            // file: steps up to here are already in it

  void open_model_devi();

  std::vector<double> forces_;           // (nlocal + nghost) x 3K, summed onto owners
  std::vector<double> energies_;         // nlocal x K
  bool comm_forces_ = false;             // comm hooks move forces_ (else exchange)
  int nmax_ = 0;
  double **array_ = nullptr;             // per-atom: eps_i, std of e_i
};

}    // namespace LAMMPS_NS

#endif
