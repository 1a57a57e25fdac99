import { RequestMethod, type INestApplicationContext, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import { ACCESS_ROLES, ACCESS_RULE, ACCESS_SCOPES } from './access.decorators';

/** One route handler of an app and whether it says who may call it. */
export interface RouteAccess {
  controller: string;
  method: string;
  /** The HTTP method it answers (`GET`, `POST`, … or `ALL`). */
  verb: string;
  /** Controller path and handler path, as declared. */
  path: string;
  /** `public`, `service`, `fhir`, `scopes`, `roles`, or undefined when it has no access metadata. */
  access?: string;
}

const paths = (value: unknown): string[] =>
  Array.isArray(value) ? value.map((v) => `${v as string}`) : typeof value === 'string' ? [value] : [''];

function accessOf(handler: object, controller: Type): string | undefined {
  for (const target of [handler, controller]) {
    const rule = Reflect.getMetadata(ACCESS_RULE, target) as { kind: string } | undefined;
    if (rule) return rule.kind;
  }
  const scopes: unknown =
    Reflect.getMetadata(ACCESS_SCOPES, handler) ?? Reflect.getMetadata(ACCESS_SCOPES, controller);
  if (scopes !== undefined) return 'scopes';
  const roles: unknown =
    Reflect.getMetadata(ACCESS_ROLES, handler) ?? Reflect.getMetadata(ACCESS_ROLES, controller);
  return roles === undefined ? undefined : 'roles';
}

/**
 * Every HTTP route handler of every controller in an app's module graph, with the access metadata the
 * global `AccessGuard` reads. A route without any is refused at run time (fail closed); the route check
 * in `npm test` fails on it first.
 */
export function routeAccess(app: INestApplicationContext): RouteAccess[] {
  const routes: RouteAccess[] = [];
  const seen = new Set<Type>();
  for (const module of app.get(ModulesContainer).values())
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type | null;
      if (!controller || seen.has(controller)) continue;
      seen.add(controller);
      const prefix = paths(Reflect.getMetadata(PATH_METADATA, controller))[0] ?? '';
      const prototype = controller.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const handler = prototype[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const verb = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (verb === undefined) continue;
        for (const path of paths(Reflect.getMetadata(PATH_METADATA, handler)))
          routes.push({
            controller: controller.name,
            method: name,
            verb: RequestMethod[verb],
            path: `/${[prefix, path].filter((p) => p !== '' && p !== '/').join('/')}`.replace(/\/+/g, '/'),
            access: accessOf(handler, controller),
          });
      }
    }
  return routes;
}
