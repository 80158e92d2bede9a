from django.http import HttpRequest, HttpResponse, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def policy_page(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError
