"""The experiments API: each module under apis/ lists its own routes."""
from experiments.apis import assignment, experiments

urlpatterns = [*experiments.urlpatterns, *assignment.urlpatterns]
