"""An API that answers 200 and one that fails, and a page outside the API, for the traffic counters."""
from django.http import HttpResponse
from django.urls import path


def fine(request):
    return HttpResponse("ok")


def broken(request):
    raise RuntimeError("the view failed")


urlpatterns = [
    path("api/v1/fine", fine),
    path("api/v1/broken", broken),
    path("outside", fine),
]
