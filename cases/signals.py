"""Forget a case's cached page when anything it shows changes (``cases.case_pages``).

Evidence, composites, morphs and memberships change in services, in workers and in the admin, so
signals catch every ``save()`` and ``delete()``; the few queryset ``update()`` calls on these models
call ``case_pages.forget`` themselves.
"""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import case_pages
from .models import CandidatePhoto, Case, CaseMembership, Composite, Morph, WitnessSketch

IN_A_CASE = (CandidatePhoto, CaseMembership, Morph, WitnessSketch)


def case_changed(sender, instance, **kwargs) -> None:
    case_pages.forget(instance.case_id)


for model in IN_A_CASE:
    post_save.connect(case_changed, sender=model, dispatch_uid=f"case_page_{model.__name__}_saved")
    post_delete.connect(case_changed, sender=model, dispatch_uid=f"case_page_{model.__name__}_deleted")


@receiver(post_save, sender=Case, dispatch_uid="case_page_case_saved")
@receiver(post_delete, sender=Case, dispatch_uid="case_page_case_deleted")
def case_saved(sender, instance, **kwargs) -> None:
    case_pages.forget(instance.pk)


@receiver(post_save, sender=Composite, dispatch_uid="case_page_composite_saved")
@receiver(post_delete, sender=Composite, dispatch_uid="case_page_composite_deleted")
def composite_changed(sender, instance, **kwargs) -> None:
    case_pages.forget(sketch_case_id(instance))


def sketch_case_id(composite: Composite) -> int | None:
    """The composite's case, without a query when its sketch is already loaded."""
    if Composite.sketch.is_cached(composite):
        return composite.sketch.case_id
    return WitnessSketch.objects.filter(pk=composite.sketch_id).values_list("case_id", flat=True).first()


@receiver(post_save, sender=get_user_model(), dispatch_uid="case_page_user_saved")
def user_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    """Case pages name the people who acted; a login (which saves only ``last_login``) renames no one."""
    if not created and set(update_fields or ()) != {"last_login"}:
        case_pages.forget_people()
