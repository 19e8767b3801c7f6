"""The demo's pipeline file, written verbatim so that its comments teach the format."""

PIPELINE_TOML = '''\
# pipeshield demo pipeline: two models, their data, a signing key and a few planted weaknesses.
# planted.json (next to this file) lists what was planted; a real pipeline has no such file.

[pipeline]
name = "pipeshield-demo"
description = "Digit recogniser (CNN) and tumour classifier (random forest) built by `pipeshield demo`."

# ---- datasets: path, role (train | test | reference | incoming), label column or array ----
[datasets.digits_train]
path = "data/digits_train.npz"
role = "train"
label = "label"          # NPZ: the array holding labels; features are in array "x"

[datasets.digits_test]
path = "data/digits_test.npz"
role = "test"
label = "label"

[datasets.digits_test.domain]  # what a valid input is: evasion attacks never leave it
clip = [0.0, 1.0]              # pixel intensities; tabular data can add per-feature `bounds`,
                               # `integer`, `categorical` and `immutable` feature lists

[datasets.tabular_train]
path = "data/tabular_train.csv"
role = "train"
label = "diagnosis"

[datasets.tabular_test]
path = "data/tabular_test.parquet"
role = "test"
label = "diagnosis"

[datasets.incoming]
path = "data/incoming.csv"
role = "incoming"        # new data waiting to be validated; unlabelled

# ---- models: file, format (inferred from the extension), how to rebuild and retrain ----
[models.digits_cnn]
path = "models/digits_cnn.safetensors"
builder = "pipeshield.demo.models:build_digits_cnn"     # returns the nn.Module for the state_dict
training = "pipeshield.demo.models:train_digits_cnn"    # fn(x, y, *, seed) -> model
input_shape = [1, 8, 8]
train_data = "digits_train"
test_data = "digits_test"

[models.tabular_forest]
path = "models/tabular_forest.skops"                    # loaded with skops' trusted-types check
trusted_types = ["sklearn.tree._tree.Tree"]             # reviewed: sklearn's own tree structure
training = "pipeshield.demo.models:train_tabular_forest"
train_data = "tabular_train"
test_data = "tabular_test"

# ---- other files that ship with the pipeline; inventoried and scanned, never loaded ----
[artifacts.legacy_forest]
path = "models/legacy_forest.pkl"
kind = "model"
description = "an older tabular model someone pickled"

[artifacts.forest_v2]
path = "models/forest_v2.safetensors"
kind = "model"
description = "a 'converted' model downloaded from a shared drive"

# ---- keys whose signatures this pipeline trusts; each dataset and model has FILE.sig beside it ----
[keys]
trusted = ["keys/demo-signing.pub"]

# ---- policy: the lowest severity that fails the audit, and per-check thresholds ----
[policy]
fail_on = "high"
seed = 0

[policy.checks."validation.clean-accuracy"]
min_accuracy = 0.9

[policy.checks."attacks.membership"]
models = ["tabular_forest"]   # digits_cnn's reference CNNs take ~20 s each: measure it with
                              # `pipeshield attack membership --model digits_cnn`

[policy.checks."training.tradeoff"]   # what each hardened-training recipe buys and costs: retrains
models = ["digits_cnn"]               # digits_cnn plain, with DP-SGD (epsilon 8 and 3) and adversarially

[policy.checks."training.federated"]  # every aggregation rule, honest and with 2 of 11 clients
models = ["digits_cnn"]               # attacking (scaled updates, a backdoor): about a minute
'''
