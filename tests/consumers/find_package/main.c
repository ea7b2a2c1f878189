/*
 * main.c -- the find_package(migc) consumer: built twice, against
 * migc::runtime (static) as "find_package" and against
 * migc::runtime_shared as "find_package_shared".
 * The program itself is common to every consumer: ../common.
 */
#include "consumer_migrations.h"

#ifndef CONSUMER_NAME
#define CONSUMER_NAME "find_package"
#endif
#define CHECK_TABLE "public.ledger_entries"

#include "../common/consumer_main.h"
