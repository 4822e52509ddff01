"""Provider webhooks: the payloads go in exactly as the providers send them (edge.py says how)."""

from fastapi import APIRouter

from services.http.routes.webhooks import call_centre, email, phone, web

router = APIRouter()
for provider_family in (phone, call_centre, email, web):
    router.include_router(provider_family.router)
