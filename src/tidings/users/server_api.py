"""Server routes (placeholder while being built)."""

from fastapi import APIRouter

server_router = APIRouter(prefix="/v1", tags=["server"])
