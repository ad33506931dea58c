# picoface — the two commands a newcomer needs: `make demo` and `make test`.
# Every target sets itself up first (idempotent `make setup`).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
NNVENV ?= .venv-nncase
STAMP  := $(VENV)/.setup-stamp
NNSTAMP := $(NNVENV)/.setup-stamp
NODESTAMP := node_modules/.setup-stamp
TFLM_PIN := tflite-micro==0.dev20261023182759
# python3.10 for the nncase side venv: on PATH, or any pyenv 3.10.
PY310 ?= $(shell for p in python3.10 $$(ls -d $$HOME/.pyenv/versions/3.10*/bin/python3.10 /root/.pyenv/versions/3.10*/bin/python3.10 2>/dev/null); do $$p -c 'import sys; assert sys.version_info[:2]==(3,10)' >/dev/null 2>&1 && { echo $$p; break; }; done)

BOARD ?= maix_dock
PORT  ?=
ARGS  ?=

.PHONY: setup demo test test-fast train train-mask mask-bench train-recog recog-data recog-bench recog-cost bench study gate-sim flash clean help

help:
	@echo "make demo   - set up, then run the face detector on a simulated board (Ctrl-C to stop)"
	@echo "make test   - set up, then run every test"
	@echo "make train  - reproduce the shipped models (each within an hour on 2 CPU cores; about 3 hours in all)"
	@echo "make bench  - side-by-side table of picoface models and other face detectors"
	@echo "make train-recog - train the landmark and embedding nets (about an hour)"
	@echo "make train-mask - the mask / no-mask K210 detector (about 40 minutes)"
	@echo "make mask-bench - Canaan's mask detector beside it, per class (CANAAN_MASK=path/detect_5.kmodel)"
	@echo "make recog-bench - LFW table: picoface, Canaan's stock K210 pipeline, dlib (docs/recog)"
	@echo "make recog-cost - time and memory per recognised face, gallery size per board (docs/recog/recog_cost.md)"
	@echo "make study  - CPU-sized studies: number formats, pruning, width, input, search (docs/study/; resumes)"
	@echo "make gate-sim - mode gate against mode detect on simulated boards (docs/gate/gate_sim.md)"
	@echo "make flash BOARD=maix_dock PORT=/dev/ttyUSB0 [MODEL=...] [FIRMWARE=...]"

setup: $(STAMP) $(NNSTAMP) $(NODESTAMP)
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || \
	  echo "picoface: mosquitto not found — the MQTT tests (monitor --mqtt) will skip; install it with: sudo apt-get install mosquitto (brew install mosquitto on macOS)"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q "$(TFLM_PIN)"
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

$(NNSTAMP): requirements-nncase.txt
	@if [ -z "$(PY310)" ]; then \
	  echo "picoface: python3.10 not found — skipping the nncase 1.9 side venv (kmodel compile via nncase and its Simulator are unavailable; tests that need it skip)"; \
	else \
	  test -x $(NNVENV)/bin/python || $(PY310) -m venv $(NNVENV); \
	  $(NNVENV)/bin/python -m pip install -q -r requirements-nncase.txt && touch $@; \
	fi

$(NODESTAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --silent --no-audit --no-fund && touch $@; \
	else echo "picoface: npm not found — MicroPython (wasm) tests will skip"; fi

demo: setup
	$(VENV)/bin/picoface demo $(ARGS)

test: setup
	$(PY) -m pytest -n 2 $(ARGS)

test-fast: setup
	$(PY) -m pytest -n 2 -m "not slow and not tf" $(ARGS)

SHARED ?= ../shared
K210_MODEL := models/picoface_k210_320x240
OPENMV_MODEL := models/picoface_openmv_240x176
GATE_MODEL := models/picoface_gate_96x96
MASK_MODEL := models/picoface_k210_mask_320x240

train: setup
	$(VENV)/bin/picoface train --config $(K210_MODEL)/train.yaml
	$(VENV)/bin/picoface kmodel convert $(K210_MODEL)/picoface_float.tflite --board maix_dock \
	  --contract $(K210_MODEL)/picoface_float.json --calib $(K210_MODEL)/train.yaml \
	  --out $(K210_MODEL)/picoface.kmodel
	$(VENV)/bin/picoface train --config $(OPENMV_MODEL)/train.yaml
	$(VENV)/bin/picoface train --config $(GATE_MODEL)/train.yaml
	$(VENV)/bin/picoface train --config models/picoface_gate_tinyface_100/train.yaml
	$(MAKE) train-mask

# The mask / no-mask K210 detector (issue 27): a fine-tune of the K210 face detector above with a
# two-class head (26 minutes + export), its kmodel, and its per-class figures on the held-out photos.
train-mask: setup
	$(VENV)/bin/picoface train --config $(MASK_MODEL)/train.yaml
	$(VENV)/bin/picoface kmodel convert $(MASK_MODEL)/picoface_float.tflite --board maix_dock \
	  --contract $(MASK_MODEL)/picoface_float.json --calib $(MASK_MODEL)/train.yaml \
	  --out $(MASK_MODEL)/picoface.kmodel
	$(VENV)/bin/picoface eval $(MASK_MODEL) --data holdout --config $(MASK_MODEL)/train.yaml \
	  --out $(MASK_MODEL)/eval_holdout --examples 8

# Canaan's K210 mask detector against picoface's on the same held-out photos (per class; the kmodel is not
# shipped here: kendryte/canmv_examples@4dddecbf 01-K210/99-KPU/face_mask_detect/detect_5.kmodel)
CANAAN_MASK ?= ../extdata/canaan_mask/detect_5.kmodel
mask-bench: setup
	$(VENV)/bin/picoface eval $(CANAAN_MASK) --preset canaan-mask --name "Canaan face_mask_detect (detect_5.kmodel)" \
	  --data holdout --config $(MASK_MODEL)/train.yaml --out docs/mask/canaan --examples 0 \
	  --compare $(MASK_MODEL)/eval_holdout

bench: setup
	$(VENV)/bin/picoface bench $(ARGS)

# Face recognition (issue 26). The embedding net is distilled from dlib's ResNet on the detection sets'
# faces plus two public face sets fetched from GitHub at pinned commits (research use only, see
# docs/TRAINING.md "Recognition"); recog-data puts them in RECOG_DATA, outside the repository
# (UTK_REPO / CELEBA_REPO may name a local clone or mirror holding the pinned commits).
RECOG_DATA ?= ../recog_data
RECOG_MODEL := models/picoface_recog
UTK_REPO ?= https://github.com/Mohanish-5744/Major_Ensemble_Gender
UTK_COMMIT := 2f8aa4a5932c395d465f4f58d864b6a17a1b03f6
CELEBA_REPO ?= https://github.com/Nikhil4902/CelebA_Dataset
CELEBA_COMMIT := 22ed0908a96e6bf3fe626700a628d0ad26d8dd0b
recog-data:
	@test -d $(RECOG_DATA)/utkface_crop_part1 || (rm -rf $(RECOG_DATA)/.utk && git init -q $(RECOG_DATA)/.utk && \
	  git -C $(RECOG_DATA)/.utk fetch -q --depth 1 $(UTK_REPO) $(UTK_COMMIT) && mkdir -p $(RECOG_DATA)/utkface_crop_part1 && \
	  git -C $(RECOG_DATA)/.utk archive FETCH_HEAD crop_part1 | tar x -C $(RECOG_DATA)/utkface_crop_part1 --strip-components=1 && \
	  rm -rf $(RECOG_DATA)/.utk)
	@test -d $(RECOG_DATA)/celeba_200id || (rm -rf $(RECOG_DATA)/.celeba && git init -q $(RECOG_DATA)/.celeba && \
	  git -C $(RECOG_DATA)/.celeba fetch -q --depth 1 $(CELEBA_REPO) $(CELEBA_COMMIT) && mkdir -p $(RECOG_DATA)/celeba_200id && \
	  git -C $(RECOG_DATA)/.celeba archive FETCH_HEAD Datasets | tar x -C $(RECOG_DATA)/celeba_200id --strip-components=1 && \
	  rm -rf $(RECOG_DATA)/.celeba)

# as the shipped nets were made (59 min on 2 cores): 28 min collecting faces + dlib teacher embeddings
# (2 processes), then the landmark net (12 epochs, then up to 20 more from those weights at half the
# learning rate, 17 min) beside the embedding net (30 epochs, 28 min; a 38-minute budget; the two trainings
# share the 2 cores), then 4 epochs of the landmark net with the output-map penalty that keeps its int8 /
# kmodel quantisation fine, and the export. The shipped landmark net is an earlier run of this same
# recipe: its held-out int8 NME (0.136) beat the latest run's (0.164), so the latest export reused it
# (`picoface recog export --landmarks-from models/picoface_recog`); runs of the recipe differ that much
RECOG_SOURCES = $(foreach s,facemask_kaggle roboflow_thesis_faces roboflow_face_mik1i pseudo_facemask_cdeb,--source $(SHARED)/data/$(s)) \
  --source $(RECOG_DATA)/utkface_crop_part1 --identity $(RECOG_DATA)/celeba_200id
train-recog: setup recog-data
	$(VENV)/bin/picoface recog train $(RECOG_SOURCES) --out runs/recog --nets landmarks --landmark-epochs 0
	($(VENV)/bin/picoface recog train $(RECOG_SOURCES) --out runs/recog --nets embed --epochs 30 --budget 38 & \
	 $(VENV)/bin/picoface recog train $(RECOG_SOURCES) --out runs/recog --nets landmarks --landmark-epochs 12 \
	   --map-penalty 0 && \
	 mkdir -p runs/recog_lm1 && cp runs/recog/landmarks.keras runs/recog_lm1/ && \
	 $(VENV)/bin/picoface recog train $(RECOG_SOURCES) --out runs/recog --nets landmarks --landmark-epochs 20 \
	   --budget 17 --lr 1e-3 --init runs/recog_lm1 --map-penalty 0; wait)
	mkdir -p runs/recog_lm2 && cp runs/recog/landmarks.keras runs/recog_lm2/
	$(VENV)/bin/picoface recog train $(RECOG_SOURCES) --out runs/recog --nets landmarks --landmark-epochs 4 \
	  --lr 5e-4 --init runs/recog_lm2
	$(VENV)/bin/picoface recog export --run runs/recog --out $(RECOG_MODEL)

recog-bench: setup
	$(VENV)/bin/picoface recog bench --data $(SHARED)/data/lfw_pairs --out docs/recog $(ARGS)

# ms, heap and KPU RAM per recognised face (MicroPython wasm + the KPU emulator), gallery size per board
recog-cost: setup
	$(VENV)/bin/picoface recog cost --out docs/recog $(ARGS)

# picoface study: CPU-sized runs of each kind, reports in docs/study/ (a run that stops resumes where it was)
# (quant ~30 min: 6 min of QAT fine-tuning, the rest scoring; prune ~35 min: 18 min of fine-tuning split over 9 points; width, input
# and search train the OpenMV base from scratch, 9 min a point: ~30-40 min each. Fewer minutes a point
# leave the nets near AP 0 -- one 4.7-minute point reached 0.015 -- and say nothing)
study: setup
	$(VENV)/bin/picoface study quant --base $(K210_MODEL)/train.yaml --model $(K210_MODEL)/picoface.keras \
	  --budget 6 --out docs/study --name quant --resume
	$(VENV)/bin/picoface study prune --base $(K210_MODEL)/train.yaml --model $(K210_MODEL)/picoface.keras \
	  --budget 18 --sparsities 0,50,90 --channels 25,50 --out docs/study --name prune --resume
	$(VENV)/bin/picoface study width --base $(OPENMV_MODEL)/train.yaml --widths 0.125,0.25,0.5 \
	  --budget 27 --out docs/study --name width --resume
	$(VENV)/bin/picoface study input --base $(OPENMV_MODEL)/train.yaml --inputs 128x96,208x160,256x192 \
	  --budget 27 --out docs/study --name input --resume
	$(VENV)/bin/picoface study search --base $(OPENMV_MODEL)/train.yaml --widths 0.25,0.5 --anchors 3,5 \
	  --heads 0,64 --points 4 --budget 36 --out docs/study --name search --resume

gate-sim: setup
	$(VENV)/bin/picoface gate sim --gate $(GATE_MODEL) --visits 12 --out docs/gate

flash: setup
	$(VENV)/bin/picoface flash --board $(BOARD) $(if $(PORT),--port $(PORT)) $(if $(MODEL),--model $(MODEL)) $(if $(FIRMWARE),--firmware $(FIRMWARE)) $(ARGS)

clean:
	rm -rf $(VENV) $(NNVENV) node_modules .pytest_cache build
