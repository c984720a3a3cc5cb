/* pair_style ennp: deployed NequIP models, exact on any number of MPI ranks. */

#ifndef LMP_PAIR_ENNP_H
#define LMP_PAIR_ENNP_H

#include "ennp_exchange.h"
#include "ennp_graph.h"
#include "ennp_model.h"
#include "pair.h"

#include <memory>
#include <string>
#include <vector>

namespace LAMMPS_NS {

class PairENNP : public Pair {
 public:
  PairENNP(class LAMMPS *);
  ~PairENNP() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

  // for compute ennp/ensemble: element of each LAMMPS type after pair_coeff
  const std::vector<std::string> &elements() const { return elements_; }
  // for compute ennp/ensemble: the member results (member 0 first: all members with
  // 'drive mean', member 0 alone otherwise) and graph of this pair's last evaluation if
  // it was of the model file `file_id` (Model::file_id) with the same type map at the
  // current positions, else nullptr (the compute then evaluates the model itself)
  const std::vector<ennp::Result> *results_for(const std::string &file_id, const std::vector<int> &type_map,
                                               const ennp::Graph **graph) const;

 protected:
  void allocate();
  void check_domain();               // pairs closer than the training data brought them


  std::unique_ptr<ennp::Model> model_;
  ennp::GhostExchange exchange_;
  ennp::GraphBuilder builder_;
  ennp::Graph graph_;
  std::vector<ennp::Result> results_;    // the members evaluated: all, or member 0 alone
  ennp::Result mean_;                    // 'drive mean': the members' average
  bool drive_mean_ = false;              // 'drive first|mean' (ensemble packages)
  bool evaluated_ = false;               // results_ and graph_ hold an evaluation
  bool told_threads_ = false;            // the log says once how 'drive mean' runs its members
  std::vector<std::string> elements_;    // index = LAMMPS type (1-based)
  std::vector<int> type_map_;            // LAMMPS type -> model type
  std::vector<double> cutsq_model_;      // model type pair -> cutoff^2
  int num_layers_ = 0;
  int graph_layers_ = 1;                 // hops of ghosts in the graph (1 with exchange)
  double min_dist_ = 0.1;                // atoms closer than this (A) are an error
  bool min_dist_auto_ = false;           // 'min_dist auto': leaving the training domain is an error
  double domain_tol_ = 0.1;              // closer than (1 - tol) x the training minimum: outside
  bool domain_warned_ = false;           // the warning comes once per run
};

}    // namespace LAMMPS_NS

#endif
