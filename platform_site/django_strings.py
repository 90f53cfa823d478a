"""Strings that Django translates itself, given our own Chinese: LOCALE_PATHS is searched before
Django's catalogues, so an entry in locale/ wins. Never imported; `makemessages` finds them here.
"""

from django.utils.translation import gettext_noop

# A form label's suffix (Form.label_suffix). Django's zh_Hans catalogue leaves it half-width, so
# every Chinese label read "名称:" beside the full-width punctuation of the sentences around it.
LABEL_SUFFIX = gettext_noop(":")
