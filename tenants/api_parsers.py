"""The JSON parser of every API view: DRF's, with a body nested too deeply to read a 400, not a 500,
and a body that is not JSON refused in the request's language.

Named JSONParser like DRF's, so that a view swaps its import and nothing else:
`from tenants.api_parsers import JSONParser`. REST_FRAMEWORK's DEFAULT_PARSER_CLASSES
names it for the views that do not set their own parsers.
"""

import json

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Python's json module recurses once per nested list or object: a few hundred
            # kilobytes of "[" exhaust the stack, and DRF, which turns only ValueError into a
            # ParseError, lets the RecursionError through as a 500. The client sent bad input.
            raise ParseError(_("The JSON nests lists or objects too deeply to read."))
        except ParseError as error:
            # DRF's message is English whatever the request's language ("JSON parse error - Expecting
            # ',' delimiter: line 1 column 9 (char 8)"). DRF raises it while handling the ValueError
            # of json (or of the body's decoding), which says where the body went wrong, if it knows.
            cause = error.__context__
            if isinstance(cause, json.JSONDecodeError):
                raise ParseError(
                    _("The request body is not valid JSON (line %(line)d, column %(column)d).")
                    % {"line": cause.lineno, "column": cause.colno}
                ) from cause
            raise ParseError(_("The request body is not valid JSON.")) from cause
