"""Forget a user's menu links when a gallery is granted to them or taken away (``accounts.navigation``)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.navigation import forget_menu

from .models import GalleryGrant


@receiver(post_save, sender=GalleryGrant, dispatch_uid="menu_grant_saved")
@receiver(post_delete, sender=GalleryGrant, dispatch_uid="menu_grant_deleted")
def menu_grant_changed(sender, instance, **kwargs) -> None:
    forget_menu(instance.user)
