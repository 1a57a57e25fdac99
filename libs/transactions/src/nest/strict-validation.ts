import { ValidationPipe } from '@nestjs/common';

/** A body, query or path that is not the declared shape is a 400 naming each problem, and writes nothing. */
export const strictValidation = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  validationError: { target: false, value: false },
});
