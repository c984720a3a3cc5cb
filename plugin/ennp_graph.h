/* Graph of a LAMMPS domain for a message-passing model.

   Nodes are the local atoms (0 .. nlocal-1) followed by the ghost atoms owned
   by other ranks that lie within num_layers neighbour hops of a local atom.
   A ghost that is a periodic image of one of this rank's own atoms is not a
   node: edges to it point at the owner with a cell shift, so on one rank the
   graph is exactly the periodic graph the model was trained on. Edges are
   only centred on nodes fewer than num_layers hops away from local atoms,
   because the features of outer nodes never reach a local atom.

   Shared by pair_style ennp and compute ennp/ensemble. */

#ifndef ENNP_GRAPH_H
#define ENNP_GRAPH_H

#include <cstdint>
#include <string>
#include <vector>

namespace LAMMPS_NS {
class LAMMPS;
class NeighList;
}    // namespace LAMMPS_NS

namespace ennp {

struct Graph {
  int nlocal = 0;                   // nodes [0, nlocal) are the local atoms
  int nnodes = 0;                   // local + foreign-ghost (+ padding) nodes
  std::vector<int> node_atom;       // LAMMPS atom index of each node, -1 = padding
  std::vector<double> pos;          // nnodes x 3
  std::vector<int64_t> types;       // nnodes, model type index
  std::vector<int64_t> edges;       // 2 x nedges: row 0 centres, row 1 neighbours
  std::vector<double> shifts;       // nedges x 3, in units of the cell vectors
  double cell[9] = {0};             // rows: lattice vectors a, b, c
  double min_dist = 0.0;            // shortest edge, for the "atoms too close" check
  int64_t nedges() const { return (int64_t) shifts.size() / 3; }
};

class GraphBuilder {
 public:
  // type_map[t] = model type of LAMMPS type t (1-based), cutsq[a*ntypes+b] for model types
  void build(LAMMPS_NS::LAMMPS *lmp, LAMMPS_NS::NeighList *list, const std::vector<int> &type_map,
             const std::vector<double> &cutsq, int ntypes_model, int num_layers, Graph &g);

  // Foreign ghost nodes exist (graph covers more than this rank's own atoms).
  bool has_foreign_ghosts(const Graph &g) const { return g.nnodes > g.nlocal; }

 private:
  std::vector<int> local_of_tag_, node_of_, hop_, frontier_, next_;
  std::vector<int> image_shift_;    // 3 ints per atom (ghost images of local atoms)
};

}    // namespace ennp

#endif
