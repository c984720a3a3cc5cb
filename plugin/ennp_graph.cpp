#include "ennp_graph.h"

#include "atom.h"
#include "domain.h"
#include "error.h"
#include "lammps.h"
#include "neigh_list.h"

#include <cmath>
#include <limits>

using namespace LAMMPS_NS;

namespace ennp {

// Lattice-vector components of a displacement (LAMMPS h_inv: xx,yy,zz,yz,xz,xy).
static void to_lattice(const double *h_inv, const double *d, double *n)
{
  n[0] = h_inv[0] * d[0] + h_inv[5] * d[1] + h_inv[4] * d[2];
  n[1] = h_inv[1] * d[1] + h_inv[3] * d[2];
  n[2] = h_inv[2] * d[2];
}

void GraphBuilder::build(LAMMPS *lmp, NeighList *list, const std::vector<int> &type_map,
                         const std::vector<double> &cutsq, int ntypes_model, int num_layers,
                         Graph &g)
{
  Atom *atom = lmp->atom;
  Domain *domain = lmp->domain;
  double **x = atom->x;
  const int *type = atom->type;
  const tagint *tag = atom->tag;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;

  // cell rows are the lattice vectors a, b, c (LAMMPS restricted triclinic)
  const double *h = domain->h;
  const double cell[9] = {h[0], 0.0, 0.0, h[5], h[1], 0.0, h[4], h[3], h[2]};
  for (int k = 0; k < 9; k++) g.cell[k] = cell[k];

  // --- owned atoms by tag, to recognise ghosts that are images of them
  tagint maxtag = 0;
  for (int i = 0; i < nall; i++) maxtag = std::max(maxtag, tag[i]);
  if ((tagint) local_of_tag_.size() < maxtag + 1) local_of_tag_.assign(maxtag + 1, -1);
  for (int i = 0; i < nlocal; i++) local_of_tag_[tag[i]] = i;

  node_of_.assign(nall, -1);
  hop_.assign(nall, -1);
  image_shift_.assign(3 * (size_t) nall, 0);
  for (int i = 0; i < nlocal; i++) {
    node_of_[i] = i;
    hop_[i] = 0;
  }
  for (int j = nlocal; j < nall; j++) {
    const int owner = local_of_tag_[tag[j]];
    if (owner < 0) continue;    // owned by another rank
    double d[3] = {x[j][0] - x[owner][0], x[j][1] - x[owner][1], x[j][2] - x[owner][2]};
    double n[3];
    to_lattice(domain->h_inv, d, n);
    for (int k = 0; k < 3; k++) {
      const double r = std::nearbyint(n[k]);
      if (std::fabs(n[k] - r) > 1e-6)
        lmp->error->one(FLERR, "pair ennp: ghost atom {} is not a periodic image of its owner",
                        (long) tag[j]);
      image_shift_[3 * j + k] = (int) r;
    }
    node_of_[j] = owner;
    hop_[j] = 0;
  }
  for (int i = 0; i < nlocal; i++) local_of_tag_[tag[i]] = -1;    // reset for the next call

  auto within = [&](int i, int j) {
    const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
    const int ti = type_map[type[i]], tj = type_map[type[j]];
    return dx * dx + dy * dy + dz * dz < cutsq[ti * ntypes_model + tj];
  };

  // --- breadth-first search: hop distance of foreign ghosts from local atoms
  frontier_.clear();
  for (int i = 0; i < nlocal; i++) frontier_.push_back(i);
  int nnodes = nlocal;
  for (int layer = 1; layer <= num_layers && !frontier_.empty(); layer++) {
    next_.clear();
    for (int i : frontier_) {
      const int *jlist = list->firstneigh[i];
      const int jnum = list->numneigh[i];
      for (int jj = 0; jj < jnum; jj++) {
        const int j = jlist[jj] & NEIGHMASK;
        if (hop_[j] >= 0 || !within(i, j)) continue;
        hop_[j] = layer;
        node_of_[j] = nnodes++;
        next_.push_back(j);
      }
    }
    frontier_.swap(next_);
  }

  // --- nodes
  g.nlocal = nlocal;
  g.nnodes = nnodes;
  g.node_atom.assign(nnodes, -1);
  g.pos.resize(3 * (size_t) nnodes);
  g.types.resize(nnodes);
  for (int i = 0; i < nall; i++) {
    const int node = node_of_[i];
    if (node < 0 || (i >= nlocal && hop_[i] == 0)) continue;    // not a node, or an image
    g.node_atom[node] = i;
    for (int k = 0; k < 3; k++) g.pos[3 * node + k] = x[i][k];
    g.types[node] = type_map[type[i]];
  }

  // --- edges centred on atoms fewer than num_layers hops out
  g.edges.clear();
  g.shifts.clear();
  std::vector<int64_t> nbr;
  double min_rsq = std::numeric_limits<double>::infinity();
  for (int node = 0; node < nnodes; node++) {
    const int i = g.node_atom[node];
    if (hop_[i] >= num_layers) continue;
    const int *jlist = list->firstneigh[i];
    const int jnum = list->numneigh[i];
    for (int jj = 0; jj < jnum; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      if (!within(i, j)) continue;
      const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
      min_rsq = std::min(min_rsq, dx * dx + dy * dy + dz * dz);
      g.edges.push_back(node);
      nbr.push_back(node_of_[j]);
      for (int k = 0; k < 3; k++) g.shifts.push_back((double) image_shift_[3 * j + k]);
    }
  }
  g.edges.insert(g.edges.end(), nbr.begin(), nbr.end());
  g.min_dist = std::sqrt(min_rsq);
}

}    // namespace ennp
