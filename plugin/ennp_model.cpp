#include "ennp_model.h"

#include "ennp_device.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <mpi.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace ennp {

// inputs of `ennp deploy` models and of nequip-compile --target pair_nequip
static const char *ENNP_INPUTS = "pos edge_index atom_types cell edge_cell_shift num_local_ghost_atoms";
static const char *PAIR_NEQUIP_INPUTS = "pos edge_index atom_types cell edge_cell_shift";
static const char *LMP_OUTPUTS = "atomic_energy forces virial";

static std::vector<std::string> split(const std::string &s)
{
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

static std::string get(const std::map<std::string, std::string> &m, const std::string &k)
{
  auto it = m.find(k);
  return it == m.end() ? std::string() : it->second;
}

// CPU flags of this machine (x86 /proc/cpuinfo "flags", Arm "Features").
static std::set<std::string> cpu_flags()
{
  std::ifstream in("/proc/cpuinfo");
  std::set<std::string> flags;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) == 0 || line.rfind("Features", 0) == 0) {
      auto words = split(line.substr(line.find(':') + 1));
      flags.insert(words.begin(), words.end());
      break;
    }
  }
  return flags;
}

// AOTInductor compiles vector code for one CPU ISA; running it on a CPU
// without those instructions dies with SIGILL, so refuse up front.
static void check_cpu_isa(const std::string &path, const std::string &isa)
{
  static const std::map<std::string, std::vector<std::string>> needs = {
      {"AVX2", {"avx2", "fma"}},
      {"AVX512", {"avx512f", "avx512dq", "avx512vl", "avx512bw"}},
      {"AVX512_VNNI", {"avx512_vnni"}},
      {"AVX512_BF16", {"avx512_bf16"}},
      {"AMX_TILE", {"amx_tile"}},
      {"AMX_BF16", {"amx_bf16"}},
      {"NEON", {"asimd"}},
      {"SVE256", {"sve"}},
  };
  const auto flags = cpu_flags();
  if (flags.empty()) return;    // cannot tell (no /proc): let torch try
  for (const auto &token : split(isa)) {
    auto it = needs.find(token);
    if (it == needs.end()) continue;
    for (const auto &flag : it->second)
      if (!flags.count(flag))
        throw ModelError("model file '" + path + "' was compiled for CPU instruction set '" + isa +
                         "' but this CPU lacks '" + flag +
                         "': deploy the model again on this kind of machine (ennp deploy)");
  }
}

Model::Model(const std::string &path, int device_index) : path_(path), file_id_(path)
{
  if (char *real = realpath(path.c_str(), nullptr)) {
    file_id_ = real;
    free(real);
  }
  {
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw ModelError("cannot open model file '" + path + "': " + std::strerror(errno));
    char magic[4] = {0};
    in.read(magic, 4);
    if (in.gcount() != 4 || std::memcmp(magic, "PK\x03\x04", 4) != 0)
      throw ModelError("'" + path +
                       "' is not a deployed model: expected a .nequip.pt2 (ennp deploy) or "
                       ".nequip.pth (TorchScript) archive");
  }
  std::unordered_map<std::string, std::string> raw;
  std::string aoti_error;
  try {
    raw = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, "model");
  } catch (const std::exception &e) {
    aoti_error = e.what();
  }
  if (aoti_error.empty()) {
    load_aoti(std::map<std::string, std::string>(raw.begin(), raw.end()), device_index);
  } else {
    try {
      load_torchscript(device_index);
    } catch (const ModelError &) {
      throw;
    } catch (const std::exception &e) {
      std::string first = aoti_error.substr(0, aoti_error.find('\n'));
      std::string second = std::string(e.what()).substr(0, std::string(e.what()).find('\n'));
      throw ModelError("'" + path + "' is not a deployed model: not an AOTInductor package (" +
                       first + ") and not TorchScript (" + second + ")");
    }
  }
}

Model::~Model() = default;

void Model::read_common_metadata(const std::map<std::string, std::string> &meta)
{
  type_names_ = split(get(meta, "type_names"));
  if (type_names_.empty())
    throw ModelError("model file '" + path_ + "' has no type_names in its metadata");
  const std::string r = get(meta, "r_max");
  try {
    r_max_ = std::stod(r);
  } catch (...) {
    throw ModelError("model file '" + path_ + "' has no valid r_max in its metadata ('" + r + "')");
  }
  if (!(r_max_ > 0.0)) throw ModelError("model file '" + path_ + "' has r_max <= 0");
  const size_t nt = type_names_.size();
  cutoff_.assign(nt * nt, r_max_);
  const auto per_type = split(get(meta, "per_edge_type_cutoff"));
  if (!per_type.empty()) {
    if (per_type.size() != nt * nt)
      throw ModelError("model file '" + path_ + "': per_edge_type_cutoff has " +
                       std::to_string(per_type.size()) + " values, expected " +
                       std::to_string(nt * nt));
    for (size_t k = 0; k < nt * nt; k++) cutoff_[k] = std::stod(per_type[k]);
  }
  std::string layers = get(meta, "ennp_num_layers");
  if (layers.empty()) layers = get(meta, "num_layers");
  num_layers_ = layers.empty() ? 0 : std::stoi(layers);
  const std::string width = get(meta, "ennp_exchange_width");
  exchange_width_ = width.empty() ? 0 : std::stoi(width);
  const std::string members = get(meta, "ennp_ensemble_members");
  members_ = members.empty() ? 1 : std::stoi(members);
  if (members_ < 1)
    throw ModelError("model file '" + path_ + "': ennp_ensemble_members is " + members + ", expected >= 1");
  dtype_ = get(meta, "model_dtype");
  read_domain(get(meta, "ennp_min_distance"));
}

// "El1-El2:d El1-El3:d ..." (ennp deploy --data): the training data's smallest distances
void Model::read_domain(const std::string &record)
{
  domain_min_.clear();
  if (record.empty()) return;
  const size_t nt = type_names_.size();
  domain_min_.assign(nt * nt, 0.0);
  for (const auto &item : split(record)) {
    const size_t dash = item.find('-'), colon = item.find(':');
    const int a = dash == std::string::npos ? -1 : type_index(item.substr(0, dash));
    const int b = colon == std::string::npos || colon < dash ? -1 : type_index(item.substr(dash + 1, colon - dash - 1));
    double d = 0.0;
    try {
      d = colon == std::string::npos ? 0.0 : std::stod(item.substr(colon + 1));
    } catch (...) {
      d = 0.0;
    }
    if (a < 0 || b < 0 || !(d > 0.0))
      throw ModelError("model file '" + path_ + "': ennp_min_distance entry '" + item +
                       "' is not El1-El2:distance with elements of the model");
    domain_min_[a * nt + b] = domain_min_[b * nt + a] = d;
  }
}

void Model::load_aoti(const std::map<std::string, std::string> &meta, int device_index)
{
  kind_ = "AOTInductor";
  const std::string inputs = get(meta, "nequip_aoti_inputs");
  if (inputs == ENNP_INPUTS)
    local_energy_ = true;
  else if (inputs == PAIR_NEQUIP_INPUTS)
    local_energy_ = false;
  else
    throw ModelError("model file '" + path_ + "' has inputs '" + inputs +
                     "'; pair_style ennp needs a model from `ennp deploy` (or nequip-compile "
                     "--target pair_nequip)");
  if (get(meta, "nequip_aoti_outputs") != LMP_OUTPUTS)
    throw ModelError("model file '" + path_ + "' has outputs '" + get(meta, "nequip_aoti_outputs") +
                     "', expected '" + LMP_OUTPUTS + "'");
  read_common_metadata(meta);

  device_name_ = get(meta, "AOTI_DEVICE_KEY");
  struct utsname uts;
  const std::string machine = get(meta, "AOTI_MACHINE");
  if (uname(&uts) == 0 && !machine.empty() && machine != uts.machine)
    throw ModelError("model file '" + path_ + "' was compiled for " + machine + " but this is " +
                     uts.machine + ": deploy it again on this kind of machine");
  if (device_name_ == "cuda") {
    if (!torch::cuda::is_available())
      throw ModelError("model file '" + path_ +
                       "' was deployed for CUDA but no CUDA device is available to this process "
                       "(torch CUDA build and a visible GPU are needed): deploy it with "
                       "`ennp deploy --device cpu` to run on CPUs");
    cuda_ = true;
    device_index_ = gpu_for_rank(device_index, (int) torch::cuda::device_count());
  } else if (device_name_ == "cpu") {
    check_cpu_isa(path_, get(meta, "AOTI_CPU_ISA"));
  } else {
    throw ModelError("model file '" + path_ + "' was deployed for device '" + device_name_ +
                     "'; pair_style ennp runs cpu and cuda models");
  }
  for (int k = 0; k < members_; k++) {
    const std::string name = member_model_name(k);
    if (k > 0) check_member(name);
    try {
      aoti_.push_back(std::make_unique<torch::inductor::AOTIModelPackageLoader>(
          path_, name, false, 1, (c10::DeviceIndex) (cuda_ ? device_index_ : -1)));
    } catch (const std::exception &e) {
      throw ModelError("cannot load model file '" + path_ + "'" + (k ? " (member " + name + ")" : std::string()) +
                       ": " + std::string(e.what()).substr(0, 500));
    }
  }
}

// The model of member k in an ensemble package (python/ennp/deploy/ensemble.py).
std::string Model::member_model_name(int k)
{
  return k == 0 ? "model" : "member" + std::to_string(k);
}

// A further member of an ensemble package must be there and take the inputs,
// give the outputs and know the types and cutoff of member 0.
void Model::check_member(const std::string &name) const
{
  std::unordered_map<std::string, std::string> meta;
  try {
    meta = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path_, name);
  } catch (const std::exception &) {
    throw ModelError("model file '" + path_ + "' says it holds " + std::to_string(members_) +
                     " members but has no model '" + name +
                     "' (an ensemble package of an older ennp, with all members in one graph?): "
                     "deploy it again with `ennp deploy --ensemble`");
  }
  auto at = [&](const char *key) {
    auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  std::string types;
  for (const auto &t : type_names_) types += (types.empty() ? "" : " ") + t;
  if (at("nequip_aoti_inputs") != ENNP_INPUTS || at("nequip_aoti_outputs") != LMP_OUTPUTS ||
      at("type_names") != types || at("AOTI_DEVICE_KEY") != device_name_)
    throw ModelError("model file '" + path_ + "': member '" + name + "' differs from member 0 in its "
                     "inputs, outputs, type names or device");
  double r = 0.0;
  try {
    r = std::stod(at("r_max"));
  } catch (...) {
  }
  if (r != r_max_)
    throw ModelError("model file '" + path_ + "': member '" + name + "' has r_max '" + at("r_max") +
                     "', member 0 " + std::to_string(r_max_));
}

void Model::load_torchscript(int device_index)
{
  kind_ = "TorchScript";
  torch::jit::ExtraFilesMap extra = {{"r_max", ""},       {"type_names", ""},
                                     {"num_layers", ""},  {"ennp_num_layers", ""},
                                     {"model_dtype", ""}, {"per_edge_type_cutoff", ""}};
  if (torch::cuda::is_available()) {
    cuda_ = true;
    device_index_ = gpu_for_rank(device_index, (int) torch::cuda::device_count());
  }
  torch::Device device = cuda_ ? torch::Device(torch::kCUDA, device_index_) : torch::Device(torch::kCPU);
  script_ = std::make_unique<torch::jit::Module>(torch::jit::load(path_, device, extra));
  script_->eval();
  device_name_ = cuda_ ? "cuda" : "cpu";
  read_common_metadata(std::map<std::string, std::string>(extra.begin(), extra.end()));
  // TorchScript models give forces of the energy of all nodes; with foreign
  // ghost nodes the plugin differentiates the local energy itself (see compute)
  local_energy_ = true;
}

std::vector<double> Model::cutoff_sq_table() const
{
  std::vector<double> table(cutoff_.size());
  for (size_t k = 0; k < cutoff_.size(); k++) table[k] = cutoff_[k] * cutoff_[k];
  return table;
}

int Model::type_index(const std::string &name) const
{
  for (size_t k = 0; k < type_names_.size(); k++)
    if (type_names_[k] == name) return (int) k;
  return -1;
}

std::string Model::describe() const
{
  const std::string device = cuda_ ? device_name_ + ":" + std::to_string(device_index_) : device_name_;
  std::string s = kind_ + " model '" + path_ + "' (" + device + ", " +
                  (dtype_.empty() ? "dtype ?" : dtype_) + ", r_max " + std::to_string(r_max_) +
                  ", " + std::to_string(num_layers_) + " layers, " +
                  (exchange_width_ ? "ghost feature exchange" : "ghost replication") +
                  (members_ > 1 ? ", " + std::to_string(members_) + " members" : "") + ", types";
  for (const auto &t : type_names_) s += " " + t;
  return s + (has_domain() ? ", training-domain distances" : "") + ")";
}

// Symmetric 3x3 (row-major) -> LAMMPS virial order xx yy zz xy xz yz.
static void to_voigt(const double *v, double *out)
{
  out[0] = v[0];
  out[1] = v[4];
  out[2] = v[8];
  out[3] = 0.5 * (v[1] + v[3]);
  out[4] = 0.5 * (v[2] + v[6]);
  out[5] = 0.5 * (v[5] + v[7]);
}

void Model::compute(const Graph &g, int member, Result &out)
{
  if (member < 0 || member >= members_)
    throw ModelError("model '" + path_ + "' has no member " + std::to_string(member));
  // AOTInductor graphs were exported for >= 2 nodes and >= 2 edges; pad tiny
  // graphs with two ghost nodes joined to each other only (they neither count
  // in the local energy nor touch a real node)
  int64_t nnodes = g.nnodes, nedges = g.nedges();
  const bool pad = nnodes < 2 || nedges < 2;
  std::vector<double> pos;
  std::vector<int64_t> types, edges;
  std::vector<double> shifts;
  const double *pos_p = g.pos.data();
  const int64_t *types_p = g.types.data(), *edges_p = g.edges.data();
  const double *shifts_p = g.shifts.data();
  if (pad) {
    pos = g.pos;
    types = g.types;
    for (int k = 0; k < 2; k++) {
      pos.insert(pos.end(), {1.0e4 + k, 1.0e4, 1.0e4});
      types.push_back(0);
    }
    const int64_t a = nnodes, b = nnodes + 1;
    edges.assign(g.edges.begin(), g.edges.begin() + nedges);
    edges.insert(edges.end(), {a, b});
    edges.insert(edges.end(), g.edges.begin() + nedges, g.edges.end());
    edges.insert(edges.end(), {b, a});
    shifts = g.shifts;
    shifts.insert(shifts.end(), 6, 0.0);
    nnodes += 2;
    nedges += 2;
    pos_p = pos.data();
    types_p = types.data();
    edges_p = edges.data();
    shifts_p = shifts.data();
  }

  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  torch::Device device = cuda_ ? torch::Device(torch::kCUDA, device_index_) : torch::Device(torch::kCPU);
  // from_blob does not copy; .to() copies only when the device differs
  auto t_pos = torch::from_blob((void *) pos_p, {nnodes, 3}, f64).to(device);
  auto t_edges = torch::from_blob((void *) edges_p, {2, nedges}, i64).to(device);
  auto t_types = torch::from_blob((void *) types_p, {nnodes}, i64).to(device);
  auto t_cell = torch::from_blob((void *) g.cell, {1, 3, 3}, f64).to(device);
  auto t_shifts = torch::from_blob((void *) shifts_p, {nedges, 3}, f64).to(device);

  torch::Tensor energy, forces, virial;
  if (!aoti_.empty()) {
    std::vector<torch::Tensor> in = {t_pos, t_edges, t_types, t_cell, t_shifts};
    if (local_energy_)
      in.push_back(torch::tensor({(int64_t) g.nlocal, nnodes - g.nlocal}, i64).to(device));
    auto res = aoti_[member]->run(in);
    energy = res[0];
    forces = res[1];
    virial = res[2];
  } else {
    c10::Dict<std::string, torch::Tensor> in;
    const bool ghosts = nnodes > g.nlocal;
    if (ghosts) {
      // differentiate the energy of local atoms ourselves; train mode keeps the
      // model's own autograd graph alive (nequip uses create_graph=training)
      t_pos = t_pos.clone().requires_grad_(true);
      t_cell = t_cell.clone().requires_grad_(true);
      script_->train(true);
    }
    in.insert("pos", t_pos);
    in.insert("edge_index", t_edges);
    in.insert("atom_types", t_types);
    in.insert("cell", t_cell);
    in.insert("edge_cell_shift", t_shifts);
    auto res = script_->forward({in}).toGenericDict();
    energy = res.at("atomic_energy").toTensor();
    if (ghosts) {
      script_->train(false);
      auto e_local = energy.reshape({-1}).slice(0, 0, g.nlocal).sum();
      auto grads = torch::autograd::grad({e_local}, {t_pos, t_cell});
      forces = -grads[0];
      // virial = -dE/d(strain) = -(pos^T dE/dpos + cell^T dE/dcell)
      virial = -(torch::matmul(t_pos.detach().t(), grads[0]) +
                 torch::matmul(t_cell.detach().view({3, 3}).t(), grads[1].view({3, 3})));
      energy = energy.detach();
    } else {
      forces = res.at("forces").toTensor();
      virial = res.at("virial").toTensor();
    }
  }
  energy = energy.detach().to(torch::kCPU, torch::kFloat64).contiguous().view({-1});
  forces = forces.detach().to(torch::kCPU, torch::kFloat64).contiguous().view({-1});
  virial = virial.detach().to(torch::kCPU, torch::kFloat64).contiguous().view({-1});
  if (energy.numel() != nnodes || forces.numel() != 3 * nnodes || virial.numel() != 9)
    throw ModelError("model '" + path_ + "' returned outputs of " + std::to_string(energy.numel()) + ", " +
                     std::to_string(forces.numel()) + " and " + std::to_string(virial.numel()) +
                     " values for " + std::to_string(nnodes) + " nodes");

  const double *e = energy.data_ptr<double>();
  const double *f = forces.data_ptr<double>();
  const double *v = virial.data_ptr<double>();
  out.atomic_energy.assign(e, e + g.nlocal);
  out.forces.assign(f, f + 3 * (size_t) g.nnodes);
  out.energy = 0.0;
  for (int i = 0; i < g.nlocal; i++) out.energy += e[i];
  to_voigt(v, out.virial);

  bool finite = std::isfinite(out.energy);
  for (int c = 0; c < 9; c++) finite = finite && std::isfinite(v[c]);
  for (size_t c = 0; c < out.forces.size() && finite; c++) finite = std::isfinite(out.forces[c]);
  if (!finite)
    throw ModelError("model '" + path_ + "' returned NaN or Inf" +
                     (members_ > 1 ? " (member " + std::to_string(member) + ")" : std::string()));
}

void set_threads(int nthreads)
{
  if (nthreads > 0 && at::get_num_threads() != nthreads) at::set_num_threads(nthreads);
}

int local_rank_index(void *world_comm)
{
  MPI_Comm local;
  MPI_Comm_split_type(*(MPI_Comm *) world_comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  int rank = 0;
  MPI_Comm_rank(local, &rank);
  MPI_Comm_free(&local);
  return rank;
}

}    // namespace ennp
