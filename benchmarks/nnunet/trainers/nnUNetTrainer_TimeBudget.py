"""nnU-Net v2 trainer bounded by wall-clock time, for the side-by-side comparison with autoseg on a CPU.

Found by nnUNetv2_train through nnUNet_extTrainer=<this folder> (`-tr nnUNetTrainer_TimeBudget`). Everything is
nnU-Net's default trainer except what a time budget needs, chosen to mirror autoseg's CPU training:
- NNUNET_TIME_BUDGET_S seconds of training, counted from the end of on_train_start (data loaders ready), per-epoch
  validation included -- autoseg counts the same; the run stops at the first iteration past the budget, then
  finishes that epoch's validation and saves checkpoint_final.pth as usual;
- short epochs (NNUNET_TB_ITERATIONS, default 50; NNUNET_TB_VAL_ITERATIONS, default 5 validation batches), since
  250 iterations take 20 minutes on this CPU;
- nnU-Net's poly learning rate, laid over the elapsed fraction of the budget instead of over 1000 epochs and
  updated every iteration.
At the end it writes time_budget_summary.json (iterations, seconds, throughput) into the fold folder.
"""

from __future__ import annotations

import json
import math
import os
import time
from os.path import join

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainer_TimeBudget(nnUNetTrainer):
    # The exact parameter list of nnUNetTrainer: it reads its own signature to store the init arguments.
    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        if "NNUNET_TIME_BUDGET_S" not in os.environ:
            raise RuntimeError("nnUNetTrainer_TimeBudget needs NNUNET_TIME_BUDGET_S (training seconds)")
        self.budget_seconds = float(os.environ["NNUNET_TIME_BUDGET_S"])
        self.num_iterations_per_epoch = int(os.environ.get("NNUNET_TB_ITERATIONS", "50"))
        self.num_val_iterations_per_epoch = int(os.environ.get("NNUNET_TB_VAL_ITERATIONS", "5"))
        # Epochs never end the run (the budget does); kept large so nnU-Net's per-epoch poly step stays valid.
        self.num_epochs = 100000
        self.iterations_done = 0
        self._budget_start = None

    def elapsed(self) -> float:
        return time.monotonic() - self._budget_start

    def train_step(self, batch: dict) -> dict:
        progress = min(self.elapsed() / self.budget_seconds, 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = self.initial_lr * (1 - progress) ** 0.9
        result = super().train_step(batch)
        self.iterations_done += 1
        return result

    def run_training(self):
        self.on_train_start()
        self._budget_start = time.monotonic()
        while self.elapsed() < self.budget_seconds:
            self.on_epoch_start()
            self.on_train_epoch_start()
            train_outputs = []
            for _ in range(self.num_iterations_per_epoch):
                if self.elapsed() >= self.budget_seconds:
                    break
                train_outputs.append(self.train_step(next(self.dataloader_train)))
            if not train_outputs:
                break
            self.on_train_epoch_end(train_outputs)
            with torch.no_grad():
                self.on_validation_epoch_start()
                val_outputs = [
                    self.validation_step(next(self.dataloader_val)) for _ in range(self.num_val_iterations_per_epoch)
                ]
                self.on_validation_epoch_end(val_outputs)
            self.on_epoch_end()
        training_seconds = self.elapsed()
        self.on_train_end()
        self._write_summary(training_seconds)

    def _write_summary(self, seconds: float) -> None:
        if self.local_rank != 0:
            return
        patch = list(self.configuration_manager.patch_size)
        samples = self.iterations_done * self.batch_size
        summary = {
            "trainer": type(self).__name__,
            "budget_seconds": self.budget_seconds,
            "epochs": self.current_epoch,
            "iterations": self.iterations_done,
            "iterations_per_epoch": self.num_iterations_per_epoch,
            "val_iterations_per_epoch": self.num_val_iterations_per_epoch,
            "training_seconds": round(seconds, 1),
            "iterations_per_second": round(self.iterations_done / max(seconds, 1e-9), 3),
            "samples_per_second": round(samples / max(seconds, 1e-9), 3),
            "voxels_per_second": round(samples * math.prod(patch) / max(seconds, 1e-9), 1),
            "batch_size": self.batch_size,
            "patch_size": patch,
            "device": str(self.device),
            "torch_threads": torch.get_num_threads(),
        }
        with open(join(self.output_folder, "time_budget_summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
