/* Which GPU a rank uses. The ranks of one node share its GPUs round-robin: local rank
   modulo the device count, so two ranks on a node with one GPU both use cuda:0 (never a
   cuda:1 that does not exist). Free of torch, so that it is unit-tested on its own. */

#ifndef ENNP_DEVICE_H
#define ENNP_DEVICE_H

#include <stdexcept>
#include <string>

namespace ennp {

inline int gpu_for_rank(int local_rank, int device_count)
{
  if (device_count < 1)
    throw std::invalid_argument("no CUDA device visible (device count " + std::to_string(device_count) + ")");
  return (local_rank < 0 ? 0 : local_rank) % device_count;
}

}    // namespace ennp

#endif
