"""The checks of one record, by what it holds (:func:`benchmarks.results.validate.validate_record`
calls them; :func:`benchmarks.results.validate.validate_run` checks the folder around them).

* :mod:`benchmarks.results.checks.common`: parsing the per-sample predictions and comparing a
  stored value with the recomputed one (:data:`benchmarks.results.checks.common.REL_TOL`);
* :mod:`benchmarks.results.checks.trained`: trained and published records: provenance, the cell
  id, every metric recomputed from the predictions, energy, timing, the checkpoint;
* :mod:`benchmarks.results.checks.robustness`: robustness records (corruption field, clean and
  per-severity metrics);
* :mod:`benchmarks.results.checks.deployment`: deployment records (chip-precision and float
  accuracies);
* :mod:`benchmarks.results.checks.task`: the task every ok record names (id, version, digests).

Each check reports through ``say(field, message)``, one call per problem.
"""
