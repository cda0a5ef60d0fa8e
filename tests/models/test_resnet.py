import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.tools.convert import resnet as convert_resnet
from jaxcnn.models import resnet
from tests.models.variables import random_variables, randomize_batch_norm
from tests.tolerance import differ


def _variables_shape(model, size=32):
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)),
                                           train=False))


def _count(model):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(_variables_shape(model)["params"]))


# Conv weights are bias-free; a BN has 2C parameters. Per block, basic: 9*Cin*C + 9*C*C + 4C;
# bottleneck: Cin*C + 9*C*C + C*4C + 12C; a projection adds Cin*Cout + 2*Cout.
# Stem 7*7*3*64 + 128 = 9,536; fc 512*1000 + 1000 = 513,000 (basic), 2048*1000 + 1000 (bottleneck).
IMAGENET_COUNTS = {
    # 9,536 + layer1 2*73,984 + layer2 (230,144 + 295,424) + layer3 (919,040 + 1,180,672)
    #   + layer4 (3,673,088 + 4,720,640) + 513,000
    "resnet18": 11_689_512,
    # 9,536 + 3*73,984 + (230,144 + 3*295,424) + (919,040 + 5*1,180,672)
    #   + (3,673,088 + 2*4,720,640) + 513,000
    "resnet34": 21_797_672,
    # Bottleneck blocks with C = 64/128/256/512: first blocks (with projection) 75,008 / 379,392
    # / 1,512,448 / 6,039,552, the others 70,400 / 280,064 / 1,117,184 / 4,462,592;
    # fc 2,049,000. resnet50: 9,536 + (75,008 + 2*70,400) + (379,392 + 3*280,064)
    #   + (1,512,448 + 5*1,117,184) + (6,039,552 + 2*4,462,592) + 2,049,000
    "resnet50": 25_557_032,
    # resnet50 + 17 more layer3 blocks: 25,557,032 + 17*1,117,184
    "resnet101": 44_549_160,
    # resnet101 + 4 more layer2 blocks + 13 more layer3 blocks: + 4*280,064 + 13*1,117,184
    "resnet152": 60_192_808,
    # Plain nets drop the three projections of layers 2-4:
    # (64*128 + 256) + (128*256 + 512) + (256*512 + 1024) = 8,448 + 33,280 + 132,096 = 173,824.
    "plain18": 11_689_512 - 173_824,
    "plain34": 21_797_672 - 173_824,
}

# CIFAR, n blocks per stage (Sec. 4.2), option A shortcuts (no parameters):
# stem 3*3*3*16 + 32 = 464; stage 1: n*(2*9*16*16 + 64) = 4,672n;
# stage 2: (9*16*32 + 9*32*32 + 128) + (n-1)*(2*9*32*32 + 128) = 13,952 + 18,560(n-1);
# stage 3: (9*32*64 + 9*64*64 + 256) + (n-1)*(2*9*64*64 + 256) = 55,552 + 73,984(n-1);
# fc 64*10 + 10 = 650. Total 97,216n - 21,926.
CIFAR_COUNTS = {
    "resnet20": 269_722,  # n=3
    "resnet32": 464_154,  # n=5
    "resnet44": 658_586,  # n=7
    "resnet56": 853_018,  # n=9
    "resnet110": 1_727_962,  # n=18
}
# Table 6 of the paper.
CIFAR_PAPER_MILLIONS = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85,
                        "resnet110": 1.7}


def test_every_variant_has_a_count():
  names = set(IMAGENET_COUNTS) | set(CIFAR_COUNTS) | {n.replace("resnet", "plain")
                                                      for n in CIFAR_COUNTS}
  assert names == set(resnet.VARIANTS)


@pytest.mark.parametrize("name", sorted(IMAGENET_COUNTS))
def test_imagenet_parameter_counts(name):
  assert _count(resnet.VARIANTS[name]()) == IMAGENET_COUNTS[name]


def test_cifar_counts_formula_matches_table():
  for name, count in CIFAR_COUNTS.items():
    n = resnet.CIFAR_BLOCKS[int(name[len("resnet"):])]
    assert count == 97_216 * n - 21_926


@pytest.mark.parametrize("name", sorted(CIFAR_COUNTS))
def test_cifar_parameter_counts(name):
  count = _count(resnet.VARIANTS[name]())
  assert count == CIFAR_COUNTS[name]
  paper = CIFAR_PAPER_MILLIONS[name]
  digits = 1 if paper >= 1 else 2
  assert round(count / 1e6, digits) == paper
  # Option A shortcuts have no parameters, so plain and residual CIFAR nets count the same.
  assert _count(resnet.VARIANTS[name.replace("resnet", "plain")]()) == count


def test_shortcut_options_for_resnet34():
  base = resnet.VARIANTS["resnet34"]
  # Option A drops the 173,824 projection parameters of B; option C adds a projection to the
  # 3 + 3 + 5 + 2 identity blocks: 3*(64*64 + 128) + 3*(128*128 + 256) + 5*(256*256 + 512)
  # + 2*(512*512 + 1024) = 12,672 + 49,920 + 330,240 + 526,336 = 919,168.
  assert _count(base(shortcut="A")) == 21_797_672 - 173_824
  assert _count(base(shortcut="C")) == 21_797_672 + 919_168


def test_plain_nets_have_no_shortcuts():
  params = _variables_shape(resnet.VARIANTS["plain18"]())["params"]
  names = {n for block in params.values() if isinstance(block, dict) for n in block}
  assert not any(n.startswith("shortcut") for n in names)
  resnet_params = _variables_shape(resnet.VARIANTS["resnet18"]())["params"]
  assert {k for k in resnet_params if "shortcut_conv" in resnet_params[k]} == {
      "layer2_0", "layer3_0", "layer4_0"}


def test_pad_shortcut_subsamples_and_zero_pads():
  x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
  y = resnet.pad_shortcut(x, 5, 2)
  assert y.shape == (2, 2, 2, 5)
  np.testing.assert_array_equal(y[..., :3], x[:, ::2, ::2, :])
  np.testing.assert_array_equal(y[..., 3:], 0.0)
  # Odd sizes: a stride-2 3x3 conv with padding 1 gives ceil(5/2) = 3 rows too.
  assert resnet.pad_shortcut(jnp.ones((1, 5, 5, 16)), 32, 2).shape == (1, 3, 3, 32)


def test_option_a_block_has_no_shortcut_params_and_adds_the_padded_identity():
  block = resnet.Block(32, stride=2, shortcut="A")
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
  variables = random_variables(block, x)
  assert set(variables["params"]) == {"conv1", "bn1", "conv2", "bn2"}
  out = block.apply(variables, x, train=False)
  assert out.shape == (2, 4, 4, 32)
  # With the last BN's scale at zero the residual branch is 0: out = relu(shortcut(x)).
  variables["params"]["bn2"]["scale"] = np.zeros(32, np.float32)
  out = block.apply(variables, x, train=False)
  # The residual is 0 * finite + 0 = 0 and adding it leaves the shortcut's value: exact.
  np.testing.assert_array_equal(out, jax.nn.relu(resnet.pad_shortcut(x, 32, 2)))
  assert float(jnp.abs(out[..., :16]).sum()) > 0


def test_init_kaiming_fan_out_and_zero_init_residual():
  block = resnet.Block(256, stride=2, bottleneck=True, zero_init_residual=True)
  params = block.init(jax.random.key(0), jnp.zeros((1, 2, 2, 512)), train=False)["params"]
  # He et al.'s N(0, 2/n) with n = fan_out = 3*3*256, as torchvision's kaiming_normal_: the
  # std of 589,824 draws, within 2% (its sampling error is 0.1%).
  np.testing.assert_allclose(float(jnp.std(params["conv2"]["kernel"])), np.sqrt(2 / (9 * 256)),
                             rtol=0.02)
  assert float(jnp.abs(params["bn3"]["scale"]).max()) == 0.0
  assert float(jnp.abs(params["bn2"]["scale"]).min()) == 1.0
  assert float(jnp.abs(params["shortcut_bn"]["scale"]).min()) == 1.0


@pytest.mark.parametrize("name", sorted(resnet.VARIANTS))
def test_every_variant_takes_32x32(name):
  model = resnet.VARIANTS[name]()
  x = jnp.zeros((1, 32, 32, 3))
  logits = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), x, train=False)[0])
  assert logits.shape == (1, model.num_classes) and logits.dtype == jnp.float32


# Every block type, stem and shortcut kind; the deeper variants repeat these blocks.
@pytest.mark.parametrize("name", ["resnet18", "plain18", "resnet50", "resnet20", "plain20"])
def test_forward_at_32x32(name):
  model = resnet.VARIANTS[name]()
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  variables = random_variables(model, x)
  logits = model.apply(variables, x, train=False)
  assert logits.shape == (2, model.num_classes) and logits.dtype == jnp.float32
  assert bool(jnp.all(jnp.isfinite(logits)))
  assert differ(logits[0], logits[1])  # Two images, two sets of scores.
  logits, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
  assert bool(jnp.all(jnp.isfinite(logits)))
  assert jax.tree.structure(updates["batch_stats"]) == jax.tree.structure(
      variables["batch_stats"])


@pytest.mark.parametrize("arch", convert_resnet.ARCHS)
def test_parity_with_torchvision(arch):
  torchvision = pytest.importorskip("torchvision")
  import torch
  torch.manual_seed(0)
  tmodel = getattr(torchvision.models, arch)(weights=None).eval()
  randomize_batch_norm(tmodel, torch)
  assert sum(p.numel() for p in tmodel.parameters()) == IMAGENET_COUNTS[arch]
  state = {k: v.numpy() for k, v in tmodel.state_dict().items()}
  variables = convert_resnet.from_torchvision(arch, state)
  x = np.random.default_rng(0).standard_normal((2, 224, 224, 3)).astype(np.float32)
  with torch.no_grad():
    expected = tmodel(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
  model = resnet.VARIANTS[arch]()
  # Eager: one run of a deep net costs less than compiling it whole on XLA:CPU.
  got = np.asarray(model.apply(variables, x, train=False))
  scale = np.abs(expected).max()
  assert scale > 0
  assert np.abs(got - expected).max() <= 1e-4 * scale


def test_converter_reports_missing_unexpected_and_misshapen_keys():
  torchvision = pytest.importorskip("torchvision")
  state = {k: v.numpy() for k, v in torchvision.models.resnet18(weights=None).state_dict().items()}
  with pytest.raises(ValueError, match="unexpected keys: layer5.0.conv1.weight"):
    convert_resnet.from_torchvision("resnet18", {**state, "layer5.0.conv1.weight": state[
        "layer4.0.conv1.weight"]})
  missing = {k: v for k, v in state.items() if k != "layer2.0.downsample.1.running_var"}
  with pytest.raises(ValueError, match="missing keys: layer2.0.downsample.1.running_var"):
    convert_resnet.from_torchvision("resnet18", missing)
  with pytest.raises(ValueError, match=r"shape mismatches: layer1.0.conv1.weight: expected "
                                       r"\(64, 64, 3, 3\), got \(64, 64, 1, 1\)"):
    convert_resnet.from_torchvision(
        "resnet18", {**state, "layer1.0.conv1.weight": np.zeros((64, 64, 1, 1), np.float32)})
  with pytest.raises(ValueError, match="resnet50 state_dict does not fit"):
    convert_resnet.from_torchvision("resnet50", state)
  with pytest.raises(ValueError, match="Unknown torchvision arch 'resnet20'"):
    convert_resnet.from_torchvision("resnet20", state)


@pytest.mark.parametrize("arch", convert_resnet.ARCHS)
def test_converted_tree_is_the_model_tree(arch):
  torchvision = pytest.importorskip("torchvision")
  state = {k: v.numpy() for k, v in getattr(torchvision.models, arch)(
      weights=None, num_classes=10).state_dict().items()}
  variables = convert_resnet.from_torchvision(arch, state)
  expected = _variables_shape(resnet.VARIANTS[arch](num_classes=10))
  shapes = lambda tree: jax.tree.map(lambda a: tuple(a.shape), tree)
  assert shapes(variables) == shapes(dict(expected))


def test_bfloat16_compute_and_width():
  model = resnet.VARIANTS["resnet50"](dtype="bfloat16", width=0.5)
  logits, variables = jax.eval_shape(
      lambda: model.init_with_output(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False))
  assert logits.dtype == jnp.float32 and logits.shape == (1, 1000)
  assert {p.dtype for p in jax.tree.leaves(variables["params"])} == {jnp.dtype("float32")}
  assert variables["params"]["conv1"]["kernel"].shape == (7, 7, 3, 32)
  assert variables["params"]["fc"]["kernel"].shape == (1024, 1000)  # 256 * 4 maps
