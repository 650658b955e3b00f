"""The leaderboard of one or more sweeps, built from their runs' ``results.json`` files.

    runs.py         every run below the sweep folders
    test_sets.py    runs of one seed must share their test set (its fingerprint)
    shipped.py      the runs shipped with the package, and new runs ranked against them (--against)
    selection_view.py  each run scored by the model one selection rule chose (--selection), the regret
    trial_choice.py the trial of a tuning sweep each seed reports, chosen on validation
    rank_intervals.py  each method's rank interval (bootstrap over seeds and test images)
    statistics.py   the paired Wilcoxon test: a real difference or a tie
    cost_columns.py what each method costs to train, per device
    run_curves.py   a run's metrics.csv, and the stability of its final number
    tables.py       runs -> one ranked table per scenario
    markdown.py     leaderboard.md           csv_table.py   leaderboard.csv
    figures.py      PSNR, curves and reconstruction figures (PNG)
    html_site.py    the static site (--html)  wandb_table.py  W&B Tables (--wandb)
    cli.py          ssibench leaderboard / ssibench-leaderboard
"""

from ssibench.leaderboard.cli import main  # the command's entry point, as before the package split

__all__ = ["main"]
