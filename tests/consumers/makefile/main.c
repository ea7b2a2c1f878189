/*
 * main.c -- the plain-Makefile consumer of an installed migc
 * (pkg-config migc).
 * The program itself is common to every consumer: ../common.
 */
#include "catalog.h"

#ifndef CONSUMER_NAME
#define CONSUMER_NAME "makefile"
#endif
#define CHECK_TABLE "public.events"

#include "../common/consumer_main.h"
