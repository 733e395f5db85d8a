"""Device routes (placeholder while being built)."""

from fastapi import APIRouter

client_router = APIRouter(prefix="/v1", tags=["client"])
