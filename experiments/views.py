"""The experiment pages of the merchant UI: the list, a new design, and one experiment (its design,
start, stop, the share of traffic, delete a draft, and its results).

Experiments are read through the tenant-scoped selectors: another tenant's id is a 404. Every member
may read; only owners and admins change anything.
"""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from courses.gating import CertificateRequired
from courses.gating_views import certificate_required_message
from experiments.analysis import experiment_results
from experiments.forms import ExperimentForm, TrafficShareForm
from experiments.models import Experiment, ExperimentStatus
from experiments.presentation import metric_labels, results_page, variant_rows
from experiments.selectors import experiment_get, experiment_list
from experiments.services import (
    ExperimentStateError,
    experiment_create,
    experiment_delete,
    experiment_start,
    experiment_stop,
    experiment_traffic_share_set,
)
from tenants.web import member_required


def _experiment_or_404(request, experiment_id: int) -> Experiment:
    try:
        return experiment_get(tenant=request.tenant, experiment_id=experiment_id)
    except Experiment.DoesNotExist:
        raise Http404


@member_required
def experiment_list_view(request):
    rows = [
        {"experiment": experiment, "variants": variant_rows(experiment)}
        for experiment in experiment_list(tenant=request.tenant)
    ]
    return render(request, "experiments/list.html", {"rows": rows})


@member_required(manage=True)
def experiment_new_view(request):
    form = ExperimentForm(request.POST or None, tenant=request.tenant)
    if request.method == "POST" and not form.is_valid():
        form.add_design_errors(request.tenant)
    elif request.method == "POST":
        try:
            experiment = experiment_create(tenant=request.tenant, created_by=request.user, **form.design())
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request, _("Experiment %(key)s is saved as a draft: start it when you are ready.")
                % {"key": experiment.key}
            )
            return redirect("experiments:detail", experiment_id=experiment.pk)
    return render(request, "experiments/new.html", {"form": form})


def _detail_page(request, experiment: Experiment, traffic_form: TrafficShareForm | None = None):
    traffic_percent = experiment.traffic_share * 100
    context = {
        "experiment": experiment,
        "variants": variant_rows(experiment),
        "guardrail_labels": metric_labels(experiment.guardrail_metrics),
        "traffic_percent": traffic_percent,
        "traffic_form": traffic_form or TrafficShareForm(initial={"traffic_percent": traffic_percent}),
        "can_change_traffic": experiment.status != ExperimentStatus.STOPPED,
        # A draft has served nobody: there is nothing to analyse.
        "results": None if experiment.status == ExperimentStatus.DRAFT else results_page(
            experiment_results(tenant=request.tenant, experiment=experiment)
        ),
    }
    return render(request, "experiments/detail.html", context)


@member_required
def experiment_detail_view(request, experiment_id: int):
    return _detail_page(request, _experiment_or_404(request, experiment_id))


def _state_change(request, experiment_id: int, change, done: str, **options):
    try:
        change(tenant=request.tenant, experiment_id=experiment_id, **options)
    except Experiment.DoesNotExist:
        raise Http404
    except CertificateRequired as error:
        certificate_required_message(request, error)
    except ExperimentStateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return redirect("experiments:detail", experiment_id=experiment_id)


@require_POST
@member_required(manage=True)
def experiment_start_view(request, experiment_id: int):
    return _state_change(request, experiment_id, experiment_start,
                         _("The experiment is running: shoppers are served their variant from now on."),
                         by=request.user)


@require_POST
@member_required(manage=True)
def experiment_stop_view(request, experiment_id: int):
    return _state_change(
        request, experiment_id, experiment_stop,
        _("The experiment is stopped: everyone is served the live model again. The results stay."),
    )


@require_POST
@member_required(manage=True)
def experiment_traffic_view(request, experiment_id: int):
    experiment = _experiment_or_404(request, experiment_id)
    form = TrafficShareForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, experiment, form)
    try:
        experiment_traffic_share_set(
            tenant=request.tenant, experiment_id=experiment.pk,
            traffic_share=form.cleaned_data["traffic_percent"] / 100,
        )
    except ValidationError as error:
        for reason in error.message_dict.get("traffic_share", error.messages):
            form.add_error("traffic_percent", reason)
        return _detail_page(request, experiment, form)
    except Experiment.DoesNotExist:  # deleted since it was read
        raise Http404
    except ExperimentStateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The share of traffic is now %(percent)s%%.")
                         % {"percent": f"{form.cleaned_data['traffic_percent']:g}"})
    return redirect("experiments:detail", experiment_id=experiment.pk)


@require_POST
@member_required(manage=True)
def experiment_delete_view(request, experiment_id: int):
    try:
        experiment_delete(tenant=request.tenant, experiment_id=experiment_id)
    except Experiment.DoesNotExist:
        raise Http404
    except ExperimentStateError as error:
        messages.error(request, str(error))
        return redirect("experiments:detail", experiment_id=experiment_id)
    messages.success(request, _("The draft is deleted."))
    return redirect("experiments:list")
