/* Registers the ennp styles with LAMMPS when the plugin file is loaded. */

#include "compute_ennp_ensemble.h"
#include "lammpsplugin.h"
#include "pair_ennp.h"

#include "lammps.h"

#ifndef ENNP_LAMMPS_VERSION
#define ENNP_LAMMPS_VERSION "22 Jul 2025"
#endif

using namespace LAMMPS_NS;

static Pair *pair_ennp_creator(LAMMPS *lmp)
{
  return new PairENNP(lmp);
}

static Compute *compute_ennp_ensemble_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new ComputeENNPEnsemble(lmp, argc, argv);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto reg = (lammpsplugin_regfunc) regfunc;
  lammpsplugin_t plugin;
  plugin.version = ENNP_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "ennp";
  plugin.info = "ennp: NequIP models, exact on any number of MPI ranks";
  plugin.author = "ennp developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &pair_ennp_creator;
  plugin.handle = handle;
  (*reg)(&plugin, lmp);

  plugin.style = "compute";
  plugin.name = "ennp/ensemble";
  plugin.info = "ennp: model deviation of an ensemble of NequIP models";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &compute_ennp_ensemble_creator;
  (*reg)(&plugin, lmp);
}
