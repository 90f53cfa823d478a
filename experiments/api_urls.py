"""The experiments API: each module under apis/ lists its own routes."""
from experiments.apis import assignment, experiments, results

urlpatterns = [*experiments.urlpatterns, *results.urlpatterns, *assignment.urlpatterns]
