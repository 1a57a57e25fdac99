/** Provider token of a service's root pino logger (provided by `PlatformModule.forRoot`). */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');
