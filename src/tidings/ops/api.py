"""Ops routes (placeholder while being built)."""

from fastapi import APIRouter

router = APIRouter(tags=["ops"])
